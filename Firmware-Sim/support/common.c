// Target-independent support for the firmware image: heap allocator with a high-water mark,
// putchar with a line buffer flushed over semihosting, probes, stack painting.
#include "include/firmware.h"
#include <string.h>

void fw_semihost_write0(const char *s);   // per target
extern char __heap_start[], __heap_end[], __stack_bottom[], __stack_top[];
extern char __data_start[], __data_end[], __bss_start[], __bss_end[];

// A first-fit allocator with coalescing over [__heap_start, __heap_end): the set-up frees its
// temporaries (arrays that grow while the blob's tensor table is read), and a device's malloc
// reuses them, so a bump allocator would overstate the RAM a device needs; a free block at the
// top grows into the unused space, as malloc's top chunk does. Blocks are 16-byte
// aligned with a 16-byte header (size, free flag); the high-water mark of the heap's extent is
// what fw_heap_peak reports.
typedef struct block { size_t size; size_t free; struct block *next; size_t pad; } block;   // 16 bytes
static block *first;
static uintptr_t extent;   // end of the highest block ever carved

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

int posix_memalign(void **out, size_t align, size_t size) {
    if (align > 16) { fw_write("fw: alignment above 16 not supported\n"); return 22; }
    size_t need = round16(size ? size : 1);
    block *prev = 0;
    for (block *b = first; b; prev = b, b = b->next) {
        if (!b->free || b->size < need) continue;
        if (b->size >= need + sizeof(block) + 16) {   // split
            block *rest = (block *)((char *)(b + 1) + need);
            rest->size = b->size - need - sizeof(block); rest->free = 1; rest->next = b->next;
            b->size = need; b->next = rest;
        }
        b->free = 0;
        *out = b + 1;
        return 0;
    }
    // A free block at the top of the heap grows into the unused space (as malloc's top chunk
    // does), so a temporary freed just before a large allocation leaves no hole below it.
    if (prev && prev->free) {
        uintptr_t top = (uintptr_t)(prev + 1);
        if (top + need > (uintptr_t)__heap_end) { fw_write("fw: out of heap\n"); return 12; }
        prev->size = need; prev->free = 0;
        extent = top + need;
        *out = prev + 1;
        return 0;
    }
    uintptr_t start = extent ? extent : (((uintptr_t)__heap_start + 15) & ~(uintptr_t)15);
    if (start + sizeof(block) + need > (uintptr_t)__heap_end) { fw_write("fw: out of heap\n"); return 12; }
    block *b = (block *)start;
    b->size = need; b->free = 0; b->next = 0;
    if (prev) prev->next = b; else first = b;
    extent = start + sizeof(block) + need;
    *out = b + 1;
    return 0;
}
void free(void *p) {
    if (!p) return;
    block *b = (block *)p - 1;
    b->free = 1;
    // Coalesce every run of free neighbours (the list is in address order).
    for (block *c = first; c; c = c->next) {
        while (c->free && c->next && c->next->free && (char *)(c + 1) + c->size == (char *)c->next) {
            c->size += sizeof(block) + c->next->size;
            c->next = c->next->next;
        }
    }
}
void *malloc(size_t n) { void *p = 0; return posix_memalign(&p, 16, n) ? 0 : p; }
void *calloc(size_t n, size_t m) { void *p = malloc(n * m); if (p) memset(p, 0, n * m); return p; }
size_t fw_heap_peak(void) { return extent ? extent - (uintptr_t)__heap_start : 0; }

/// 64 bytes: a longer line goes out in pieces (semihosting writes concatenate), and the image's
/// measured RAM includes this buffer (256 bytes until session 10).
static char line[64];
static int line_len;
int putchar(int c) {
    line[line_len++] = (char)c;
    if (c == '\n' || line_len == (int)sizeof line - 1) {
        line[line_len] = 0;
        fw_semihost_write0(line);
        line_len = 0;
    }
    return c;
}
void fw_write(const char *s) { while (*s) putchar(*s++); }

__attribute__((noinline)) void clef_window_begin(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) void clef_window_end(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) void clef_layer_begin(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) void clef_layer_end(void) { __asm__ volatile("" ::: "memory"); }
void fw_layer_probe(int32_t index) {
    if (index > 0) clef_layer_end();
    clef_layer_begin();
}

#define PAINT 0xC1EFC1EFu
void fw_paint_stack(void) {
    // Called early on a shallow stack: paint everything below the current frame.
    uint32_t *p = (uint32_t *)__stack_bottom;
    uint32_t *top = (uint32_t *)__builtin_frame_address(0) - 64;
    while (p < top) *p++ = PAINT;
}
size_t fw_stack_peak(void) {
    uint32_t *p = (uint32_t *)__stack_bottom;
    while (p < (uint32_t *)__stack_top && *p == PAINT) p++;
    return (size_t)(__stack_top - (char *)p);
}
size_t fw_static_ram(void) { return (size_t)(__data_end - __data_start) + (size_t)(__bss_end - __bss_start); }

// Embedded Swift asks for randomness only to seed hashing; the engine does not hash.
void arc4random_buf(void *buf, size_t n) { memset(buf, 0x5A, n); }

extern const char fw_blob_start[], fw_blob_end[], fw_signal_start[], fw_signal_end[];
const void *fw_blob(size_t *size) { *size = (size_t)(fw_blob_end - fw_blob_start); return fw_blob_start; }
const void *fw_signal(size_t *size) { *size = (size_t)(fw_signal_end - fw_signal_start); return fw_signal_start; }
