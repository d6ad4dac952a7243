/*
 * sched.c - binary min-heap of senders by next send time (see sched.h).
 */
#include <stdlib.h>

#include "sched.h"

static struct {
    participant **items;
    uint32_t n, cap;
} heap;

int sched_init(uint32_t capacity)
{
    heap.items = calloc(capacity ? capacity : 1, sizeof(*heap.items));
    heap.n = 0;
    heap.cap = capacity;
    return heap.items ? 0 : -1;
}

void sched_free(void)
{
    free(heap.items);
    heap.items = NULL;
    heap.n = heap.cap = 0;
}

static void place(uint32_t i, participant *p)
{
    heap.items[i] = p;
    p->heap_pos = i;
}

static void sift_up(uint32_t i)
{
    participant *p = heap.items[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (heap.items[parent]->next_send_us <= p->next_send_us)
            break;
        place(i, heap.items[parent]);
        i = parent;
    }
    place(i, p);
}

static void sift_down(uint32_t i)
{
    participant *p = heap.items[i];
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= heap.n)
            break;
        if (child + 1 < heap.n
            && heap.items[child + 1]->next_send_us < heap.items[child]->next_send_us)
            child++;
        if (heap.items[child]->next_send_us >= p->next_send_us)
            break;
        place(i, heap.items[child]);
        i = child;
    }
    place(i, p);
}

void sched_push(participant *p)
{
    if (heap.n == heap.cap)
        return;
    heap.items[heap.n] = p;
    sift_up(heap.n++);
}

participant *sched_peek(void)
{
    return heap.n ? heap.items[0] : NULL;
}

participant *sched_pop(void)
{
    if (!heap.n)
        return NULL;
    participant *top = heap.items[0];
    heap.n--;
    if (heap.n) {
        heap.items[0] = heap.items[heap.n];
        sift_down(0);
    }
    return top;
}

uint32_t sched_size(void)
{
    return heap.n;
}
