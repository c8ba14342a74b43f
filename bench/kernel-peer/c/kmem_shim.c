// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * A plain kmem_cache for the kernel's maple tree in user space, compiled in
 * place of tools/testing/shared/linux.c.
 *
 * The stock shim takes a mutex on every allocation and free, poisons every
 * freed object with memset, and makes GFP_NOWAIT allocations fail on purpose
 * (to exercise the tree's retry path). None of that is what a kernel slab does,
 * and none of it is what the Rust side pays. Here every object is one
 * posix_memalign() and one free() from glibc: the allocator the Rust tree's
 * nodes come from too. (The kernel's node type lives in the low byte of a
 * node's address, so its nodes need a 256-byte alignment, which glibc serves
 * through its memalign path, 512 bytes apart. The Rust tree's nodes need 16 and
 * come from plain malloc, 272 bytes apart.) By default no object is cached; no
 * allocation fails.
 *
 * KP_SLAB=N in the environment gives each thread a LIFO of up to N freed objects
 * that its next allocations take first: a stand-in for the slab's per-CPU
 * freelists, to see how much of a row is the allocator. Off unless asked for.
 *
 * KP_PACK=1 is a stand-in for the whole slab: objects are carved one after the
 * other, at the object size, from 1 MiB blocks (as a slab page holds them, 256
 * bytes apart and 256-aligned), and a freed object goes on a per-thread LIFO
 * threaded through the objects, which that thread's next allocations take
 * first. Nothing goes back to glibc before the process exits. KP_SLAB is
 * ignored then.
 */
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <stdio.h>

#include <linux/gfp.h>
#include <linux/slab.h>

struct kmem_cache {
	unsigned int size;
	unsigned int align;
	void (*ctor)(void *);
};

#define KP_SLAB_MAX 4096
static int kp_slab_cap;
static __thread void *kp_slab[KP_SLAB_MAX];
static __thread int kp_slab_len;

#define KP_PACK_BLOCK (1u << 20)
static bool kp_pack;
static __thread void *kp_pack_free;	/* LIFO, linked through the first word */
static __thread char *kp_pack_next, *kp_pack_end;

/* Referenced by the shared headers (kmalloc_verbose and friends). */
int kmalloc_verbose;
int test_verbose;
int preempt_count;
int nr_allocated;

/* Whether KP_PACK asks for the slab stand-in (the driver's info reports it). */
bool kp_pack_wanted(void)
{
	const char *v = getenv("KP_PACK");

	return v && atoi(v) != 0;
}

struct kmem_cache *kmem_cache_create(const char *name, unsigned int size,
		unsigned int align, unsigned int flags, void (*ctor)(void *))
{
	struct kmem_cache *c = malloc(sizeof(*c));

	(void)name;
	(void)flags;
	c->size = size;
	c->align = align < sizeof(void *) ? sizeof(void *) : align;
	c->ctor = ctor;
	kp_pack = kp_pack_wanted();
	if (getenv("KP_SLAB")) {
		kp_slab_cap = atoi(getenv("KP_SLAB"));
		if (kp_slab_cap < 0 || kp_slab_cap > KP_SLAB_MAX)
			kp_slab_cap = KP_SLAB_MAX;
	}
	return c;
}

/* KP_PACK: the next object from this thread's free list or current block. */
static void *kp_pack_alloc(struct kmem_cache *c)
{
	size_t stride = (c->size + c->align - 1) / c->align * c->align;
	void *p = kp_pack_free;

	if (p) {
		kp_pack_free = *(void **)p;
		return p;
	}
	if (!kp_pack_next || kp_pack_next + stride > kp_pack_end) {
		void *blk;

		if (posix_memalign(&blk, 4096, KP_PACK_BLOCK))
			return NULL;
		kp_pack_next = blk;
		kp_pack_end = kp_pack_next + KP_PACK_BLOCK;
	}
	p = kp_pack_next;
	kp_pack_next += stride;
	return p;
}

static inline void *kp_alloc(struct kmem_cache *c, gfp_t gfp)
{
	void *p;

	if (kp_pack) {
		p = kp_pack_alloc(c);
		if (!p)
			return NULL;
	} else if (kp_slab_len)
		p = kp_slab[--kp_slab_len];
	else if (posix_memalign(&p, c->align, c->size))
		return NULL;
	if (c->ctor)
		c->ctor(p);
	else if (gfp & __GFP_ZERO)
		memset(p, 0, c->size);
	return p;
}

void *kmem_cache_alloc_lru(struct kmem_cache *c, struct list_lru *lru, int gfp)
{
	(void)lru;
	return kp_alloc(c, gfp);
}

void kmem_cache_free(struct kmem_cache *c, void *p)
{
	(void)c;
	if (kp_pack) {
		*(void **)p = kp_pack_free;
		kp_pack_free = p;
	} else if (kp_slab_len < kp_slab_cap)
		kp_slab[kp_slab_len++] = p;
	else
		free(p);
}

int kmem_cache_alloc_bulk(struct kmem_cache *c, gfp_t gfp, size_t size, void **list)
{
	size_t i;

	for (i = 0; i < size; i++) {
		list[i] = kp_alloc(c, gfp);
		if (!list[i]) {
			while (i--)
				kmem_cache_free(c, list[i]);
			return 0;
		}
	}
	return size;
}

void kmem_cache_free_bulk(struct kmem_cache *c, size_t size, void **list)
{
	for (size_t i = 0; i < size; i++)
		kmem_cache_free(c, list[i]);
}

void kmem_cache_shrink(struct kmem_cache *c)
{
	(void)c;
}
