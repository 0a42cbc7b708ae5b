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

    // void ct_call_with_registers(const void *fn, const struct ct_register_record *in):
    // loads every argument register, rax, r10, xmm0-7 and 16 stack words from `in`, calls fn.
    .globl ct_call_with_registers
    .type ct_call_with_registers, @function
    .p2align 4
ct_call_with_registers:
    endbr64
    pushq %rbp
    movq %rsp, %rbp
    pushq %rbx
    pushq %r12
    subq $128, %rsp
    movq %rdi, %r11
    movq %rsi, %rbx
    .irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    movq 200+8*\i(%rbx), %rax
    movq %rax, 8*\i(%rsp)
    .endr
    movdqu 64(%rbx), %xmm0
    movdqu 80(%rbx), %xmm1
    movdqu 96(%rbx), %xmm2
    movdqu 112(%rbx), %xmm3
    movdqu 128(%rbx), %xmm4
    movdqu 144(%rbx), %xmm5
    movdqu 160(%rbx), %xmm6
    movdqu 176(%rbx), %xmm7
    movq 48(%rbx), %rax
    movq 56(%rbx), %r10
    movq 0(%rbx), %rdi
    movq 8(%rbx), %rsi
    movq 16(%rbx), %rdx
    movq 24(%rbx), %rcx
    movq 32(%rbx), %r8
    movq 40(%rbx), %r9
    call *%r11
    leaq -16(%rbp), %rsp
    popq %r12
    popq %rbx
    popq %rbp
    ret
#endif

#if defined(__x86_64__)
    // void ct_clobber_vector_registers(int level): all-ones into xmm0-15 (level 0), ymm0-15
    // (level 1) or zmm0-31 and k1 (level 2).
    .text
    .globl ct_clobber_vector_registers
    .type ct_clobber_vector_registers, @function
    .p2align 4
ct_clobber_vector_registers:
    endbr64
    cmpl $2, %edi
    je 2f
    cmpl $1, %edi
    je 1f
    pcmpeqd %xmm0, %xmm0
    .irp r, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    movdqa %xmm0, %xmm\r
    .endr
    ret
1:  vpcmpeqd %xmm0, %xmm0, %xmm0
    vinsertf128 $1, %xmm0, %ymm0, %ymm0
    .irp r, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    vmovdqa %ymm0, %ymm\r
    .endr
    ret
2:  vpternlogd $0xff, %zmm0, %zmm0, %zmm0
    .irp r, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    vmovdqa64 %zmm0, %zmm\r
    .endr
    kxnorw %k0, %k0, %k1
    ret
#endif

    .section .note.GNU-stack,"",%progbits
