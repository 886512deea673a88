// RV32 start-up for QEMU virt with -bios none (machine mode): stack, trap vector, .data copy,
// .bss zero, stack painting, semihosting output and exit.
#include "include/firmware.h"
#include <string.h>

extern char __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[], __stack_top[];
int32_t clef_firmware_main(void);
void fw_paint_stack(void);

static int semihost(int op, const void *arg) {
    register int a0 __asm__("a0") = op;
    register const void *a1 __asm__("a1") = arg;
    // The semihosting trap: these three uncompressed instructions, in one page.
    __asm__ volatile(".option push\n .option norvc\n .balign 16\n slli x0, x0, 0x1f\n ebreak\n srai x0, x0, 7\n .option pop"
                     : "+r"(a0) : "r"(a1) : "memory");
    return a0;
}
void fw_semihost_write0(const char *s) { semihost(0x04, s); }
static void fw_exit(int32_t status) {
    semihost(0x18, (const void *)(uintptr_t)(status == 0 ? 0x20026 : 0x20023));
    for (;;) {}
}

__attribute__((aligned(4))) static void trap_handler(void) { fw_write("fw: trap\n"); fw_exit(3); }

void fw_reset(void) {
    memcpy(__data_start, __data_load, (size_t)(__data_end - __data_start));
    memset(__bss_start, 0, (size_t)(__bss_end - __bss_start));
    __asm__ volatile(".option push\n .option arch, +zicsr\n csrw mtvec, %0\n .option pop" :: "r"(trap_handler));
    fw_paint_stack();
    fw_exit(clef_firmware_main());
}

__attribute__((naked, section(".text.start"))) void _start(void) {
    __asm__ volatile(".option push\n .option norelax\n la gp, __global_pointer$\n .option pop\n"
                     " la sp, __stack_top\n la t0, fw_reset\n jr t0");
}
