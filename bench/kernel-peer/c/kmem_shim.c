// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * A plain kmem_cache for the kernel's maple tree in user space, compiled in
 * place of tools/testing/shared/linux.c.
 *
 * The stock shim takes a mutex on every allocation and free, poisons every
 * freed object with memset, and makes GFP_NOWAIT allocations fail on purpose
 * (to exercise the tree's retry path). None of that is what a kernel slab does,
 * and none of it is what the Rust side pays. Here every object is one
 * posix_memalign() and one free() from glibc: the same allocator, the same call,
 * that the Rust tree's 256-byte, 256-aligned nodes get from Rust's System
 * allocator. By default no object is cached; no allocation fails.
 *
 * KP_SLAB=N in the environment gives each thread a LIFO of up to N freed objects
 * that its next allocations take first: a stand-in for the slab's per-CPU
 * freelists, to see how much of a row is the allocator. Off unless asked for.
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

/* Referenced by the shared headers (kmalloc_verbose and friends). */
int kmalloc_verbose;
int test_verbose;
int preempt_count;
int nr_allocated;

struct kmem_cache *kmem_cache_create(const char *name, unsigned int size,
		unsigned int align, unsigned int flags, void (*ctor)(void *))
{
	struct kmem_cache *c = malloc(sizeof(*c));

	(void)name;
	(void)flags;
	c->size = size;
	c->align = align < sizeof(void *) ? sizeof(void *) : align;
	c->ctor = ctor;
	if (getenv("KP_SLAB")) {
		kp_slab_cap = atoi(getenv("KP_SLAB"));
		if (kp_slab_cap < 0 || kp_slab_cap > KP_SLAB_MAX)
			kp_slab_cap = KP_SLAB_MAX;
	}
	return c;
}

static inline void *kp_alloc(struct kmem_cache *c, gfp_t gfp)
{
	void *p;

	if (kp_slab_len)
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
	if (kp_slab_len < kp_slab_cap)
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
