#!/usr/bin/env bash
# Writes pkg-config files for StubPool's C API in a SwiftPM build folder:
#   stubpool.pc         the shared library (libStubPoolC.so), with an rpath to the build folder
#   stubpool-static.pc  the static archive (libStubPoolCStatic.a) plus the Swift runtime it needs
# Usage: Examples/CEmbedding/write-pkgconfig.sh [.build/debug]   (after `swift build`)
# Then:  PKG_CONFIG_PATH=.build/debug cc prog.c $(pkg-config --cflags --libs stubpool)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$root/.build/debug}" && pwd)"
swiftc="$(command -v swiftc)"
runtime="$(cd "$(dirname "$(readlink -f "$swiftc")")/../lib/swift/linux" && pwd)"
arch="$(uname -m)"

cat > "$build/stubpool.pc" <<PC
Name: stubpool
Description: StubPool C API: packed executable stubs, lazy stubs, W^X code arena
Version: 1
Cflags: -I$root/Sources/CStubPoolAPI/include
Libs: -L$build -lStubPoolC -Wl,-rpath,$build
PC

cat > "$build/stubpool-static.pc" <<PC
Name: stubpool-static
Description: StubPool C API, static archive (links the Swift runtime from the toolchain)
Version: 1
Cflags: -I$root/Sources/CStubPoolAPI/include
Libs: $runtime/$arch/swiftrt.o $build/libStubPoolCStatic.a -L$runtime -Wl,-rpath,$runtime -lswiftCore -lswift_Concurrency -lswiftSynchronization -lswiftGlibc -lswiftSwiftOnoneSupport -lm
PC
echo "$build/stubpool.pc"
