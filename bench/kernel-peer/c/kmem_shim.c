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
 * allocator. No object is cached, no allocation fails.
 */
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>

#include <linux/gfp.h>
#include <linux/slab.h>

struct kmem_cache {
	unsigned int size;
	unsigned int align;
	void (*ctor)(void *);
};

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
	return c;
}

static inline void *kp_alloc(struct kmem_cache *c, gfp_t gfp)
{
	void *p;

	if (posix_memalign(&p, c->align, c->size))
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
