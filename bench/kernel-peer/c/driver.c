// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * The kernel's own maple tree (lib/maple_tree.c of the installed linux-source
 * package, read where it was extracted, never copied into this repository) run
 * through the same workloads as the Rust driver in ../src/main.rs.
 *
 *   driver info
 *   driver run ROW N REPS SEED
 *
 * `run` prints one line:
 *   RESULT row=ROW n=N reps=REPS ops=OPS ns=NS sum=HEX nodes=NODES
 * NS is the time of the timed sections only (setup and teardown excluded), OPS
 * the operations they did, SUM a checksum of what they returned (or of the tree
 * they built) that the Rust side must reproduce exactly, NODES the nodes of the
 * tree the row measures (a walk of it, outside the timed sections).
 *
 * Every timed section is a noinline function named kp_timed_*, so that
 * `valgrind --tool=callgrind --toggle-collect='*kp_timed_*'` counts exactly the
 * instructions of the measured work on both sides.
 *
 * The random streams (splitmix64, the Fisher-Yates shuffle, the key and hole
 * draws) are spelled out twice, here and in main.rs; keep them in step.
 */
#define MAPLE_32BIT (MAPLE_NODE_SLOTS > 31)
#include "shared.h"
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include "linux/init.h"

#include "maple_tree.c"

/* c/kmem_shim.c: whether KP_PACK asks for its slab stand-in. */
bool kp_pack_wanted(void);

/* Without CONFIG_64BIT the header silently picks the 32-bit layout. */
_Static_assert(sizeof(struct maple_node) == 256,
	       "struct maple_node is not 256 bytes: build with -DCONFIG_64BIT=1");

/* The nodes a tree holds (a walk of the tree, untimed). */
static long count_enode(struct maple_enode *enode, unsigned long max)
{
	enum maple_type type = mte_node_type(enode);
	struct maple_node *node = mte_to_node(enode);
	unsigned long *pivots;
	void __rcu **slots;
	unsigned char end;
	long count = 1;

	if (ma_is_leaf(type))
		return 1;
	slots = ma_slots(node, type);
	pivots = ma_pivots(node, type);
	end = ma_data_end(node, type, pivots, max);
	for (unsigned char i = 0; i <= end; i++)
		count += count_enode(slots[i], i < end ? pivots[i] : max);
	return count;
}

static long count_nodes(struct maple_tree *mt)
{
	void *root = mt_root_locked(mt);

	return xa_is_node(root) ? count_enode(root, ULONG_MAX) : 0;
}

/* ---- the shared random stream and checksum ---------------------------- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A random permutation of 0..n-1. */
static uint64_t *make_perm(uint64_t n)
{
	uint64_t *p = malloc(n * sizeof(*p));

	for (uint64_t i = 0; i < n; i++)
		p[i] = i;
	for (uint64_t i = n; i > 1; i--) {
		uint64_t j = rng_next() % i;
		uint64_t t = p[i - 1];

		p[i - 1] = p[j];
		p[j] = t;
	}
	return p;
}

#define FOLD_INIT 0xcbf29ce484222325ULL

static inline uint64_t fold(uint64_t h, uint64_t x)
{
	return (h ^ x) * 0x100000001b3ULL;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* ---- helpers (untimed) ------------------------------------------------- */

/* Entry p covers [10p, 10p + 5] and holds the value p (xa_mk_value, the same
 * bits as the Rust side's Value::new(p)). */
static void build(struct maple_tree *mt, unsigned int flags, const uint64_t *perm,
		  uint64_t n, const bool *present)
{
	MA_STATE(mas, mt, 0, 0);

	mt_init_flags(mt, flags);
	mtree_lock(mt);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t p = perm[i];

		if (present && !present[p])
			continue;
		mas_set_range(&mas, 10 * p, 10 * p + 5);
		if (mas_store_gfp(&mas, xa_mk_value(p), GFP_KERNEL))
			abort();
	}
	mtree_unlock(mt);
}

/* Checksum of a whole tree: every entry's range and value, in order. */
static uint64_t fold_tree(struct maple_tree *mt, uint64_t h)
{
	MA_STATE(mas, mt, 0, 0);
	void *e;
	uint64_t count = 0;

	rcu_read_lock();
	mas_for_each(&mas, e, ULONG_MAX) {
		h = fold(h, mas.index);
		h = fold(h, mas.last);
		h = fold(h, xa_to_value(e));
		count++;
	}
	rcu_read_unlock();
	return fold(h, count);
}

static void destroy(struct maple_tree *mt)
{
	/* mtree_destroy of an RCU-mode tree crashes once an internal node has
	 * 15 children; exit_mmap clears RCU mode first, and so do we. */
	mt_clear_in_rcu(mt);
	mtree_destroy(mt);
}

/* ---- the timed sections ------------------------------------------------ */

/* Random-order stores building a plain tree, the tree lock held throughout
 * (as a kernel caller holding its lock does); mas_store_gfp is what
 * mtree_store_range runs under that lock. */
static __attribute__((__noinline__)) void kp_timed_store(struct maple_tree *mt,
						     const uint64_t *perm, uint64_t n)
{
	MA_STATE(mas, mt, 0, 0);

	mtree_lock(mt);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t p = perm[i];

		mas_set_range(&mas, 10 * p, 10 * p + 5);
		if (mas_store_gfp(&mas, xa_mk_value(p), GFP_KERNEL))
			abort();
	}
	mtree_unlock(mt);
}

/* The same stores into an RCU-mode tree through the normal API: one lock
 * round trip per store, replaced nodes freed by call_rcu. */
static __attribute__((__noinline__)) void kp_timed_rcu_store(struct maple_tree *mt,
							 const uint64_t *perm, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t p = perm[i];

		if (mtree_store_range(mt, 10 * p, 10 * p + 5, xa_mk_value(p), GFP_KERNEL))
			abort();
	}
}

static __attribute__((__noinline__)) uint64_t kp_timed_load(struct maple_tree *mt,
							const uint64_t *keys, uint64_t n, uint64_t h)
{
	for (uint64_t i = 0; i < n; i++) {
		void *e = mtree_load(mt, keys[i]);

		h = fold(h, e ? xa_to_value(e) + 1 : 0);
	}
	return h;
}

static __attribute__((__noinline__)) uint64_t kp_timed_iterate(struct maple_tree *mt, uint64_t h)
{
	MA_STATE(mas, mt, 0, 0);
	void *e;

	rcu_read_lock();
	mas_for_each(&mas, e, ULONG_MAX) {
		h = fold(h, mas.index);
		h = fold(h, mas.last);
		h = fold(h, xa_to_value(e));
	}
	rcu_read_unlock();
	return h;
}

static __attribute__((__noinline__)) void kp_timed_dup(struct maple_tree *src,
						   struct maple_tree *dst)
{
	if (__mt_dup(src, dst, GFP_KERNEL))
		abort();
}

/* The fork path since 6.8 (dup_mmap): duplicate the tree, then walk the copy
 * storing a new entry over every range (vma_iter_bulk_store is this mas_store
 * with the iterator's own index and last). */
static __attribute__((__noinline__)) void kp_timed_dup_overwrite(struct maple_tree *src,
							     struct maple_tree *dst)
{
	MA_STATE(mas, dst, 0, 0);
	void *e;

	if (__mt_dup(src, dst, GFP_KERNEL))
		abort();
	mtree_lock(dst);
	mas_for_each(&mas, e, ULONG_MAX) {
		mas_store(&mas, xa_mk_value(xa_to_value(e) + 1));
		if (mas_is_err(&mas))
			abort();
	}
	mtree_unlock(dst);
}

/* The fork path before 6.8: iterate the source, store every entry into a new
 * tree. */
static __attribute__((__noinline__)) void kp_timed_rebuild(struct maple_tree *src,
						       struct maple_tree *dst)
{
	MA_STATE(smas, src, 0, 0);
	MA_STATE(dmas, dst, 0, 0);
	void *e;

	rcu_read_lock();
	mtree_lock(dst);
	mas_for_each(&smas, e, ULONG_MAX) {
		mas_set_range(&dmas, smas.index, smas.last);
		if (mas_store_gfp(&dmas, e, GFP_KERNEL))
			abort();
	}
	mtree_unlock(dst);
	rcu_read_unlock();
}

static __attribute__((__noinline__)) uint64_t kp_timed_erase(struct maple_tree *mt,
							 const uint64_t *perm, uint64_t n, uint64_t h)
{
	MA_STATE(mas, mt, 0, 0);

	mtree_lock(mt);
	for (uint64_t i = 0; i < n; i++) {
		void *e;

		mas_set(&mas, 10 * perm[i]);
		e = mas_erase(&mas);
		h = fold(h, e ? xa_to_value(e) + 1 : 0);
	}
	mtree_unlock(mt);
	return h;
}

static __attribute__((__noinline__)) uint64_t kp_timed_gap_rev(struct maple_tree *mt,
							   const uint64_t *his, uint64_t n,
							   uint64_t size, uint64_t h)
{
	rcu_read_lock();
	for (uint64_t i = 0; i < n; i++) {
		MA_STATE(mas, mt, 0, 0);

		if (mas_empty_area_rev(&mas, 0, his[i], size) == 0) {
			h = fold(h, mas.index);
			h = fold(h, mas.last);
		} else {
			h = fold(h, UINT64_MAX);
		}
	}
	rcu_read_unlock();
	return h;
}

/* ---- rows --------------------------------------------------------------- */

struct result {
	uint64_t ns, ops, sum;
	long nodes;
};

static void run_store(uint64_t n, uint64_t reps, bool rcu, struct result *r)
{
	uint64_t *perm = make_perm(n);
	uint64_t h = FOLD_INIT;

	for (uint64_t rep = 0; rep < reps; rep++) {
		struct maple_tree mt;
		uint64_t t0, t1;

		mt_init_flags(&mt, rcu ? MT_FLAGS_USE_RCU : 0);
		t0 = now_ns();
		if (rcu)
			kp_timed_rcu_store(&mt, perm, n);
		else
			kp_timed_store(&mt, perm, n);
		t1 = now_ns();
		r->ns += t1 - t0;
		r->ops += n;
		h = fold_tree(&mt, h);
		r->nodes = count_nodes(&mt);
		destroy(&mt);
		if (rcu)
			rcu_barrier();
	}
	r->sum = h;
	free(perm);
}

static void run_read(const char *row, uint64_t n, uint64_t reps, struct result *r)
{
	uint64_t *perm = make_perm(n);
	uint64_t *keys = NULL;
	uint64_t h = FOLD_INIT;
	struct maple_tree mt;

	build(&mt, 0, perm, n, NULL);
	r->nodes = count_nodes(&mt);
	if (!strcmp(row, "load")) {
		keys = malloc(n * sizeof(*keys));
		for (uint64_t i = 0; i < n; i++)
			keys[i] = rng_next() % (10 * n);
	}
	for (uint64_t rep = 0; rep < reps; rep++) {
		uint64_t t0 = now_ns();

		if (keys)
			h = kp_timed_load(&mt, keys, n, h);
		else
			h = kp_timed_iterate(&mt, h);
		r->ns += now_ns() - t0;
		r->ops += n;
	}
	r->sum = h;
	destroy(&mt);
	free(keys);
	free(perm);
}

static void run_copy(const char *row, uint64_t n, uint64_t reps, struct result *r)
{
	unsigned int flags = strcmp(row, "dup") ? MT_FLAGS_ALLOC_RANGE : 0;
	uint64_t *perm = make_perm(n);
	uint64_t h = FOLD_INIT;
	struct maple_tree src;

	build(&src, flags, perm, n, NULL);
	for (uint64_t rep = 0; rep < reps; rep++) {
		struct maple_tree dst;
		uint64_t t0, t1;

		mt_init_flags(&dst, flags);
		t0 = now_ns();
		if (!strcmp(row, "dup") || !strcmp(row, "dup_alloc"))
			kp_timed_dup(&src, &dst);
		else if (!strcmp(row, "dup_overwrite"))
			kp_timed_dup_overwrite(&src, &dst);
		else
			kp_timed_rebuild(&src, &dst);
		t1 = now_ns();
		r->ns += t1 - t0;
		r->ops += n;
		h = fold_tree(&dst, h);
		r->nodes = count_nodes(&dst);
		destroy(&dst);
	}
	r->sum = h;
	destroy(&src);
	free(perm);
}

static void run_erase(uint64_t n, uint64_t reps, struct result *r)
{
	uint64_t *perm = make_perm(n);
	uint64_t *order = make_perm(n);
	uint64_t h = FOLD_INIT;

	for (uint64_t rep = 0; rep < reps; rep++) {
		struct maple_tree mt;
		uint64_t t0, t1;

		build(&mt, 0, perm, n, NULL);
		t0 = now_ns();
		h = kp_timed_erase(&mt, order, n, h);
		t1 = now_ns();
		r->ns += t1 - t0;
		r->ops += n;
		h = fold_tree(&mt, h);
		r->nodes = count_nodes(&mt);
		destroy(&mt);
	}
	r->sum = h;
	free(order);
	free(perm);
}

static void run_gap(uint64_t n, uint64_t reps, uint64_t size, struct result *r)
{
	bool *present = malloc(n * sizeof(*present));
	uint64_t *perm, *his;
	uint64_t h = FOLD_INIT;
	struct maple_tree mt;

	/* Holes: n/50 runs of 6 or 10 missing entries, so gaps of 64 and 104. */
	for (uint64_t i = 0; i < n; i++)
		present[i] = true;
	for (uint64_t k = 0; k < n / 50; k++) {
		uint64_t start = rng_next() % n;
		uint64_t len = (k % 2 == 0) ? 6 : 10;

		for (uint64_t i = start; i < start + len && i < n; i++)
			present[i] = false;
	}
	perm = make_perm(n);
	build(&mt, MT_FLAGS_ALLOC_RANGE, perm, n, present);
	r->nodes = count_nodes(&mt);
	his = malloc(n * sizeof(*his));
	for (uint64_t i = 0; i < n; i++)
		his[i] = rng_next() % (10 * n);
	for (uint64_t rep = 0; rep < reps; rep++) {
		uint64_t t0 = now_ns();

		h = kp_timed_gap_rev(&mt, his, n, size, h);
		r->ns += now_ns() - t0;
		r->ops += n;
	}
	r->sum = fold_tree(&mt, h);
	destroy(&mt);
	free(his);
	free(perm);
	free(present);
}

static double rcu_pair_ns(void)
{
	const int iters = 10000000;
	uint64_t t0 = now_ns();

	for (int i = 0; i < iters; i++) {
		rcu_read_lock();
		barrier();
		rcu_read_unlock();
	}
	return (double)(now_ns() - t0) / iters;
}

int main(int argc, char **argv)
{
	struct result r = { 0 };

	if (sizeof(struct maple_node) != 256 || MAPLE_RANGE64_SLOTS != 16) {
		fprintf(stderr, "driver: struct maple_node is %zu bytes with %d-slot leaves;"
			" refusing to run (build with -DCONFIG_64BIT=1)\n",
			sizeof(struct maple_node), (int)MAPLE_RANGE64_SLOTS);
		return 2;
	}
	maple_tree_init();
	rcu_register_thread();

	if (argc == 2 && !strcmp(argv[1], "info")) {
		printf("INFO node_size=%zu range64_slots=%d arange64_slots=%d"
		       " membarrier=%d rcu_lock_pair_ns=%.2f pack=%d\n",
		       sizeof(struct maple_node), (int)MAPLE_RANGE64_SLOTS,
		       (int)MAPLE_ARANGE64_SLOTS, (int)urcu_memb_has_sys_membarrier,
		       rcu_pair_ns(), (int)kp_pack_wanted());
		return 0;
	}
	if (argc != 6 || strcmp(argv[1], "run")) {
		fprintf(stderr, "usage: %s info | run ROW N REPS SEED\n", argv[0]);
		return 2;
	}

	const char *row = argv[2];
	uint64_t n = strtoull(argv[3], NULL, 10);
	uint64_t reps = strtoull(argv[4], NULL, 10);

	rng_state = strtoull(argv[5], NULL, 10);
	if (!strcmp(row, "store"))
		run_store(n, reps, false, &r);
	else if (!strcmp(row, "rcu_store"))
		run_store(n, reps, true, &r);
	else if (!strcmp(row, "load") || !strcmp(row, "iterate"))
		run_read(row, n, reps, &r);
	else if (!strcmp(row, "dup") || !strcmp(row, "dup_alloc") ||
		 !strcmp(row, "dup_overwrite") || !strcmp(row, "rebuild"))
		run_copy(row, n, reps, &r);
	else if (!strcmp(row, "erase"))
		run_erase(n, reps, &r);
	else if (!strcmp(row, "gap_rev50"))
		run_gap(n, reps, 50, &r);
	else if (!strcmp(row, "gap_rev95"))
		run_gap(n, reps, 95, &r);
	else {
		fprintf(stderr, "driver: unknown row %s\n", row);
		return 2;
	}
	rcu_barrier();
	rcu_unregister_thread();
	printf("RESULT row=%s n=%llu reps=%llu ops=%llu ns=%llu sum=%016llx nodes=%ld\n",
	       row, (unsigned long long)n, (unsigned long long)reps,
	       (unsigned long long)r.ops, (unsigned long long)r.ns,
	       (unsigned long long)r.sum, r.nodes);
	return 0;
}
