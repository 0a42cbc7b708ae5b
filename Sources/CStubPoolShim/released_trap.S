// Trap entries for calls through released stubs. Each finds an address inside the stub that was
// called, passes it to stubpool_report_released (which never returns) and traps if it does.
// They are indirect-branch targets, so each starts with a landing pad (endbr64 / bti c).

#if defined(__x86_64__)
    .text

    // Reached by `call [anchor]` from the released entry inside a forward stub's slot.
    .globl stubpool_trap_return_address
    .hidden stubpool_trap_return_address
    .type stubpool_trap_return_address, @function
    .p2align 4
stubpool_trap_return_address:
    endbr64
    movq (%rsp), %rdi
    subq $1, %rdi              // last byte of the call instruction: inside the stub's slot
    jmp .Lstubpool_report

    // A released context stub loaded its own address into r10.
    .globl stubpool_trap_context_register
    .hidden stubpool_trap_context_register
    .type stubpool_trap_context_register, @function
    .p2align 4
stubpool_trap_context_register:
    endbr64
    movq %r10, %rdi
    jmp .Lstubpool_report

    // A released bindFirstArgument stub loaded its own address into rdi.
    .globl stubpool_trap_first_argument
    .hidden stubpool_trap_first_argument
    .type stubpool_trap_first_argument, @function
    .p2align 4
stubpool_trap_first_argument:
    endbr64
.Lstubpool_report:
    andq $-16, %rsp
    call stubpool_report_released
    ud2

#elif defined(__aarch64__)
    .text

    .globl stubpool_trap_return_address
    .hidden stubpool_trap_return_address
    .type stubpool_trap_return_address, %function
    .p2align 4
stubpool_trap_return_address:
    hint #34                   // bti c
    sub x0, x30, #4            // the blr instruction inside the stub's slot
    b .Lstubpool_report

    .globl stubpool_trap_context_register
    .hidden stubpool_trap_context_register
    .type stubpool_trap_context_register, %function
    .p2align 4
stubpool_trap_context_register:
    hint #34
    mov x0, x17
    b .Lstubpool_report

    .globl stubpool_trap_first_argument
    .hidden stubpool_trap_first_argument
    .type stubpool_trap_first_argument, %function
    .p2align 4
stubpool_trap_first_argument:
    hint #34
.Lstubpool_report:
    mov x1, sp
    and x1, x1, #~15
    mov sp, x1
    bl stubpool_report_released
    brk #0
#endif

    .section .note.GNU-stack,"",%progbits
