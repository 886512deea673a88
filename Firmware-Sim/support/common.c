// Target-independent support for the firmware image: bump allocator with a high-water mark,
// putchar with a line buffer flushed over semihosting, probes, stack painting.
#include "include/firmware.h"
#include <string.h>

void fw_semihost_write0(const char *s);   // per target
extern char __heap_start[], __heap_end[], __stack_bottom[], __stack_top[];
extern char __data_start[], __data_end[], __bss_start[], __bss_end[];

static size_t heap_used;

int posix_memalign(void **out, size_t align, size_t size) {
    if (align < 8) align = 8;
    uintptr_t p = ((uintptr_t)__heap_start + heap_used + align - 1) & ~(uintptr_t)(align - 1);
    if (p + size > (uintptr_t)__heap_end) { fw_write("fw: out of heap\n"); return 12; }
    heap_used = p + size - (uintptr_t)__heap_start;
    *out = (void *)p;
    return 0;
}
void *malloc(size_t n) { void *p = 0; return posix_memalign(&p, 8, n) ? 0 : p; }
void *calloc(size_t n, size_t m) { void *p = malloc(n * m); if (p) memset(p, 0, n * m); return p; }
void free(void *p) { (void)p; }   // the engine allocates once at start-up and never frees
size_t fw_heap_peak(void) { return heap_used; }

static char line[256];
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
