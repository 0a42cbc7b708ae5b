// libStubPoolC.so: the C API (the StubPoolC target) as one self-contained shared library. This
// target adds no code; it carries the link settings (Package.swift): the Swift runtime linked
// statically and exports.map's export list.
import StubPoolC
