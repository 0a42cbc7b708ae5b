#!/usr/bin/env bash
# Builds and installs StubPool's C libraries, headers and pkg-config files under a prefix:
#   lib/libStubPoolC.so          the C API (stubpool.h), the Swift runtime linked in
#   lib/libStubPoolFFI.so        the libffi drop-in (plain C, built with cc; loads
#                                libStubPoolC.so beside it on the first closure)
#   include/stubpool.h, include/stubpool_ffi.h
#   lib/pkgconfig/stubpool.pc, lib/pkgconfig/stubpool-ffi.pc
# Usage: Examples/CEmbedding/install.sh --prefix DIR [--configuration release|debug]
#        (--from BUILD_FOLDER installs what a finished `swift build` left there, building nothing)
# Then:  PKG_CONFIG_PATH=DIR/lib/pkgconfig cc prog.c $(pkg-config --cflags --libs stubpool-ffi)
#        (links the drop-in ahead of -lffi: the program's closures are StubPool stubs, no preload)
set -euo pipefail
prefix=""
configuration=release
from=""
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        --configuration) configuration="$2"; shift 2 ;;
        --from) from="$2"; shift 2 ;;
        *) echo "usage: $0 --prefix DIR [--configuration release|debug]"; exit 2 ;;
    esac
done
[ -n "$prefix" ] || { echo "usage: $0 --prefix DIR"; exit 2; }
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
if [ -n "$from" ]; then
    build="$(cd "$from" && pwd)"
else
    swift build -c "$configuration" --product StubPoolC
    swift build -c "$configuration" --product StubPoolFFI
    build="$(swift build -c "$configuration" --show-bin-path)"
fi
mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
prefix="$(cd "$prefix" && pwd)"
# Symbols kept, DWARF left in the build folder: valgrind 3.19 (Debian 12) gives up on the line
# tables of the statically linked Swift runtime ("Possibly corrupted debuginfo file") and stops
# every program it runs that loads the core; perf and gdb still name every function.
strip --strip-debug -o "$prefix/lib/libStubPoolC.so" "$build/libStubPoolC.so"
chmod 755 "$prefix/lib/libStubPoolC.so"
# The drop-in is plain C: built here with the system C compiler, it needs nothing but libc (and
# finds libffi in the process). SwiftPM's own link of it adds libstdc++ and libm, which cost every
# process it is preloaded into about 1.4 ms and 1.5 MB.
cc="${CC:-cc}"
$cc -O2 -shared -fPIC -Wall -Wextra -Werror \
    -I Sources/StubPoolFFI/include -I Sources/StubPoolFFI -I Sources/CStubPoolAPI/include \
    Sources/StubPoolFFI/*.c \
    Sources/StubPoolFFIDropIn/dropin.c Sources/CStubPoolAPI/last_error.c \
    -Wl,--version-script=Sources/StubPoolFFIDropIn/exports.map -Wl,--as-needed -ldl \
    -o "$prefix/lib/libStubPoolFFI.so"
install -m 644 Sources/CStubPoolAPI/include/stubpool.h Sources/StubPoolFFI/include/stubpool_ffi.h "$prefix/include/"
cat > "$prefix/lib/pkgconfig/stubpool.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: stubpool
Description: StubPool C API: packed executable stubs, lazy stubs, W^X code arena
Version: 3
Cflags: -I\${includedir}
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -lStubPoolC
PC
cat > "$prefix/lib/pkgconfig/stubpool-ffi.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: stubpool-ffi
Description: libffi closures on StubPool stubs (link ahead of -lffi, or LD_PRELOAD libStubPoolFFI.so)
Version: 3
Requires: libffi
Cflags: -I\${includedir}
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -lStubPoolFFI
PC
echo "installed under $prefix: $(cd "$prefix" && find lib include -type f | sort | tr '\n' ' ')"
