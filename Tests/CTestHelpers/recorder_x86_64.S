// Register recorder and context-register reader for the tests (x86-64 System V).
#if defined(__x86_64__)
    .text
    .globl ct_return_context_register
    .type ct_return_context_register, @function
    .p2align 4
ct_return_context_register:
    endbr64
    movq %r10, %rax
    ret

    // Layout: struct ct_register_record in ctesthelpers.h.
    .globl ct_recorder
    .type ct_recorder, @function
    .p2align 4
ct_recorder:
    endbr64
    leaq ct_record_storage(%rip), %r11
    movq %rdi, 0(%r11)
    movq %rsi, 8(%r11)
    movq %rdx, 16(%r11)
    movq %rcx, 24(%r11)
    movq %r8, 32(%r11)
    movq %r9, 40(%r11)
    movq %rax, 48(%r11)
    movq %r10, 56(%r11)
    movdqu %xmm0, 64(%r11)
    movdqu %xmm1, 80(%r11)
    movdqu %xmm2, 96(%r11)
    movdqu %xmm3, 112(%r11)
    movdqu %xmm4, 128(%r11)
    movdqu %xmm5, 144(%r11)
    movdqu %xmm6, 160(%r11)
    movdqu %xmm7, 176(%r11)
    movq (%rsp), %rax
    movq %rax, 192(%r11)
    .irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    movq 8+8*\i(%rsp), %rax
    movq %rax, 200+8*\i(%r11)
    .endr
    movq $0, 328(%r11)
    movq $0, 336(%r11)
    // Return values derived from the arguments.
    movq %rdi, %rax
    xorq %rsi, %rax
    movdqa %xmm0, %xmm2
    movdqa %xmm1, %xmm0
    movdqa %xmm2, %xmm1
    ret
#endif
    .section .note.GNU-stack,"",%progbits
