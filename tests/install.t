#!/bin/sh
# make install puts programs, the library, its header and man pages under
# PREFIX, and an installed header and library build a program.
cd "$(dirname "$0")/.." || exit 1
t=$(mktemp -d) || exit 1
trap 'rm -rf "$t"' EXIT
n=0
check() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; fi; }
make -s install PREFIX="$t/usr" >"$t/log" 2>&1
check "make install succeeds" '[ $? -eq 0 ] || cat "$t/log" | sed "s/^/# /"'
for p in tok embed nearest mask nsp sample pack; do
	check "bin/$p installed" "[ -x '$t/usr/bin/$p' ]"
done
check "library installed" "[ -f '$t/usr/lib/libqkv.a' ]"
check "header installed" "[ -f '$t/usr/include/qkv.h' ]"
for m in man/*.[157]; do
	[ -e "$m" ] || continue
	s=${m##*.}
	check "$m installed" "[ -f '$t/usr/share/man/man$s/${m##*/}' ]"
done
cat >"$t/use.c" <<'C'
#include <qkv.h>
int main(void) { return qkv_dtype_size(qkv_dtype_parse("f32")) == 4 ? 0 : 1; }
C
# with the compiler and flags the library was built with (make asan's)
${CC:-cc} -std=c11 ${CFLAGS:-} -I"$t/usr/include" -o "$t/use" "$t/use.c" \
    "$t/usr/lib/libqkv.a" ${LDFLAGS:-} -lopenblas -lutf8proc -ljansson -lz \
    -lm -lpthread 2>"$t/cc.log"
check "a program builds against the installed library" '"$t/use"'
echo "1..$n"
