#!/bin/sh
# Faults every program must survive, program by program:
#  - standard output on /dev/full: an error naming the program, exit 1;
#  - -o FILE where no file can be made (a path under a regular file, and a
#    read-only directory as an unprivileged user: root runs that part as
#    nobody through setpriv, since root may write a mode-555 directory):
#    a clean error, exit 1, nothing left behind;
#  - the producer of a qkv stream killed with SIGKILL in the middle of the
#    stream: the consumer says the stream is truncated and exits 1 (never a
#    short result that looks whole), live while rows flow, and for every
#    consumer with the producer killed inside a record;
#  - `| head -1`: the program ends quietly, no message;
#  - a model file one byte short (safetensors, qkv model file): refused at
#    load by every program that loads one.
# `make -j4` against `make -j1` of a pipeline Makefile is tests/examples.t.
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
BIN=${QKV_BIN:-$top/bin}
t=$(mktemp -d) || exit 1
trap 'exec 3>&- 4<&-; rm -rf "$t"' EXIT
chmod 755 "$t"
V=$top/tests/data/vocab/bert-base-uncased
B=$top/tests/data/golden/bert-tiny
G=$top/tests/data/golden/gpt2-tiny
n=0
ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}
note() { sed 's/^/# /' "$@" | head -5; }

# ---- inputs ------------------------------------------------------------------
xz -dc tests/data/tok/prose.txt.xz | head -n 4000 >"$t/text"
"$BIN/tok" -q -m "$V" "$t/text" >"$t/ids"
grep -v '^ *$' "$t/text" | head -n 600 >"$t/lines"
"$BIN/tok" -q -s -l 64 -m "$B" "$t/lines" >"$t/bids"
"$BIN/embed" -q -m "$B" "$t/bids" >"$t/vec.qkv"
head -n 100 "$t/bids" | "$BIN/embed" -q -m "$B" >"$t/q.qkv"
"$BIN/nsp" -m "$V" "$t/ids" >"$t/inst"
"$BIN/mask" -m "$V" "$t/inst" >"$t/minst"
head -n 300 "$t/lines" | sed 's/ [^ ]*/ [MASK]/' | grep -F '[MASK]' >"$t/fill"
head -n 300 "$t/lines" | paste - - | awk -F'\t' 'NF == 2' >"$t/pairs"
head -n 60 "$t/lines" | "$BIN/tok" -q -l 24 -m "$G" >"$t/gids"
"$BIN/pack" -q -i "$B" -o "$t/bert.qkv"
"$BIN/pack" -q -i "$G" -o "$t/gpt2.qkv"
mkdir "$t/x" && "$BIN/pack" -q -x -C "$t/x" "$t/vec.qkv"
for f in ids bids vec.qkv q.qkv inst minst fill pairs gids bert.qkv gpt2.qkv x/vec.npy; do
	[ -s "$t/$f" ] || { echo "Bail out! could not make input $f"; exit 1; }
done

# Every program, writing to standard output: NAME|COMMAND.
cat >"$t/cmds" <<EOF
tok|"$BIN/tok" -m "$V" "$t/text"
tok -b|"$BIN/tok" -b -m "$V" "$t/text"
tok -d|"$BIN/tok" -d -m "$V" "$t/ids"
embed -t|"$BIN/embed" -t -m "$B" "$t/bids"
embed|"$BIN/embed" -m "$B" "$t/bids"
nearest|"$BIN/nearest" -k 50 "$t/vec.qkv" <"$t/q.qkv"
nsp|"$BIN/nsp" -m "$V" "$t/ids"
nsp --google|"$BIN/nsp" --google --dupe 1 -m "$V" "$t/ids"
nsp --score|"$BIN/nsp" --score -m "$B" "$t/pairs"
mask|"$BIN/mask" -m "$V" "$t/inst"
mask --fill|"$BIN/mask" --fill -k 20 -m "$B" "$t/fill"
sample|"$BIN/sample" -m "$G" -n 40 -E "$t/gids"
sample --score|"$BIN/sample" --score -v -m "$G" "$t/gids"
pack -t|"$BIN/pack" -t "$t/bert.qkv"
pack -c|"$BIN/pack" -c "$t/x/vec.npy"
pack -M|"$BIN/pack" -M file:vocab.txt "$t/bert.qkv"
pack --corpus|"$BIN/pack" --corpus "$t/ids"
EOF

# ---- /dev/full ---------------------------------------------------------------
while IFS='|' read -r name cmd; do
	eval "$cmd" </dev/null >/dev/full 2>"$t/err"
	rc=$?
	prog=${name%% *}
	[ $rc = 1 ] && grep -q "^$prog: .*No space left on device" "$t/err" &&
	    [ "$(wc -l <"$t/err")" -eq 1 ]
	r=$?
	ok $r "$name >/dev/full: exit 1 (got $rc) with one line naming the error"
	[ $r = 0 ] || note "$t/err"
done <"$t/cmds"

# ---- | head -1 ---------------------------------------------------------------
while IFS='|' read -r name cmd; do
	{ eval "$cmd" </dev/null 2>"$t/err"; echo $? >"$t/rc"; } |
	    head -n 1 >"$t/first"
	rc=$(cat "$t/rc")
	{ [ "$rc" = 0 ] || [ "$rc" = 141 ]; } && [ ! -s "$t/err" ] && [ -s "$t/first" ]
	r=$?
	ok $r "$name | head -1: quiet (status $rc, no message)"
	[ $r = 0 ] || note "$t/err"
done <"$t/cmds"

# ---- -o where no file can be made --------------------------------------------
# NAME|COMMAND with @ for the output path.
cat >"$t/ocmds" <<EOF
tok|"$BIN/tok" -m "$V" -o @ "$t/text"
embed|"$BIN/embed" -m "$B" -o @ "$t/bids"
nearest|"$BIN/nearest" -o @ "$t/vec.qkv" <"$t/q.qkv"
nsp|"$BIN/nsp" -m "$V" -o @ "$t/ids"
mask|"$BIN/mask" -m "$V" -o @ "$t/inst"
sample|"$BIN/sample" -m "$G" -n 2 -o @ "$t/gids"
pack -c|"$BIN/pack" -c -o @ "$t/x/vec.npy"
pack -i|"$BIN/pack" -q -i "$G" -o @
pack --corpus|"$BIN/pack" --corpus -o @ "$t/ids"
pack --shards|"$BIN/pack" --shards -l 128 -o @ "$t/minst"
pack -x|"$BIN/pack" -q -x -C @ "$t/vec.qkv"
EOF
: >"$t/afile"
while IFS='|' read -r name cmd; do
	out="$t/afile/out"
	eval "$(echo "$cmd" | sed "s|@|$out|")" </dev/null >/dev/null 2>"$t/err"
	rc=$?
	prog=${name%% *}
	[ $rc = 1 ] && grep -q "^$prog: .*Not a directory" "$t/err" &&
	    [ ! -s "$t/afile" ] && [ "$(ls "$t" | grep -c '^afile')" = 1 ]
	r=$?
	ok $r "$name -o under a regular file: exit 1 (got $rc), an error, nothing made"
	[ $r = 0 ] || note "$t/err"
done <"$t/ocmds"

# A read-only directory: as ourselves, or as nobody when we are root.
as_user() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
	else
		"$@"
	fi
}
mkdir "$t/ro" && chmod 555 "$t/ro"
as_user touch "$t/ro/probe" 2>/dev/null
[ $? != 0 ] && [ ! -e "$t/ro/probe" ]
ok $? "the read-only directory is read-only to the user the tests run as"
while IFS='|' read -r name cmd; do
	out="$t/ro/out"
	[ "$name" = "pack -x" ] && out="$t/ro"
	as_user sh -c "$(echo "$cmd" | sed "s|@|$out|")" </dev/null \
	    >/dev/null 2>"$t/err"
	rc=$?
	prog=${name%% *}
	[ $rc = 1 ] && grep -q "^$prog: .*Permission denied" "$t/err" &&
	    [ -z "$(ls -A "$t/ro")" ]
	r=$?
	ok $r "$name -o into a read-only directory: exit 1 (got $rc), an error, nothing made"
	[ $r = 0 ] || note "$t/err"
done <"$t/ocmds"

# ---- a producer killed in the middle of a stream -----------------------------
# The bytes a process has written so far, and whether one of its threads
# is blocked writing into a full pipe.
wchar() { awk '/^wchar:/ { print $2 }' "/proc/$1/io" 2>/dev/null || echo 0; }
in_pipe_write() { cat /proc/"$1"/task/*/wchan 2>/dev/null | grep -q pipe_write; }

# Live: PRODUCER's input is fed and then held open, so it waits for more
# with part of its stream written (at least MIN bytes, several chunks),
# while CONSUMER reads that stream as it comes; then SIGKILL.
live_kill() {
	producer=$1 consumer=$2 input=$3 min=$4
	rm -f "$t/fi" "$t/fo" "$t/kout"
	mkfifo "$t/fi" "$t/fo"
	sh -c "exec $consumer" <"$t/fo" >"$t/kout" 2>"$t/kerr" &
	c=$!
	sh -c "exec $producer" <"$t/fi" >"$t/fo" 2>/dev/null &
	p=$!
	exec 3>"$t/fi"
	cat "$input" >&3 2>/dev/null &
	f=$!
	i=0
	while [ "$(wchar $p)" -lt "$min" ] && [ $i -lt 1200 ] &&
	    kill -0 $p 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	written=$(wchar $p)
	kill -9 $p
	wait $p 2>/dev/null
	exec 3>&-
	wait $f 2>/dev/null
	wait $c
	krc=$?
	[ "$written" -ge "$min" ]
}

# several of tok's 1 MB input batches, so that it writes while it waits
xz -dc tests/data/tok/prose.txt.xz >"$t/prose"
for i in 1 2 3 4 5 6; do cat "$t/prose"; done >"$t/big"
"$BIN/tok" -q -b -m "$V" "$t/big" >"$t/big.qkv"
# tok reads ahead (2 batches a thread, and 2) before it writes: the live
# producers run with -j 1 on 16 copies, 11 MB, so that most of the stream
# is written while tok waits for the rest of its input
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do cat "$t/prose"; done >"$t/huge"
# NAME|PRODUCER|CONSUMER: the producer has written 2 MB or more
tokb="\"$BIN/tok\" -q -b -m \"$V\""
cat >"$t/live" <<EOF
tok -d|$tokb -j 1|"$BIN/tok" -d -m "$V"
embed|"$BIN/tok" -q -s -b -l 64 -j 1 -m "$B"|"$BIN/embed" -q -m "$B" -o "$t/kout.qkv"
nsp|$tokb -j 1|"$BIN/nsp" -b -m "$V" -o "$t/kout.qkv"
mask|$tokb -j 1|"$BIN/mask" -m "$V" -o "$t/kout.qkv"
pack -x|$tokb -j 1|"$BIN/pack" -q -x -C "$t/kx"
pack --corpus|$tokb -j 1|"$BIN/pack" --corpus -o "$t/kout.qkv"
EOF
while IFS='|' read -r name producer consumer; do
	rm -rf "$t/kx" "$t/kout.qkv"
	mkdir "$t/kx"
	live_kill "$producer" "$consumer" "$t/huge" 2097152 </dev/null
	w=$?
	prog=${name%% *}
	[ $w = 0 ] && [ $krc = 1 ] && grep -q "^$prog: .*truncated" "$t/kerr" &&
	    [ ! -e "$t/kout.qkv" ] && [ -z "$(ls -A "$t/kx")" ]
	r=$?
	ok $r "live: producer killed after $written bytes | $name: truncated, exit 1 (got $krc)"
	[ $r = 0 ] || note "$t/kerr"
done <"$t/live"

# Inside a record: PRODUCER blocks writing into a pipe no one reads, is
# killed there, and only then CONSUMER reads what the pipe holds.
blocked_kill() {
	producer=$1 consumer=$2
	rm -f "$t/fo"
	mkfifo "$t/fo"
	sh -c "exec $producer" >"$t/fo" 2>/dev/null &
	p=$!
	exec 4<"$t/fo"
	i=0
	while ! in_pipe_write $p && [ $i -lt 1200 ] &&
	    kill -0 $p 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	in_pipe_write $p
	blocked=$?
	written=$(wchar $p)
	kill -9 $p
	wait $p 2>/dev/null
	sh -c "exec $consumer" <&4 >"$t/kout" 2>"$t/kerr"
	krc=$?
	exec 4<&-
	return $blocked
}

# NAME|PRODUCER|CONSUMER: producers of more than a pipe holds.
cat "$t/bids" "$t/bids" "$t/bids" "$t/bids" >"$t/bids4"
"$BIN/nsp" -b -m "$V" "$t/big.qkv" >"$t/ibig.qkv"
cat >"$t/kcmds" <<EOF
tok -d|$tokb "$t/big"|"$BIN/tok" -d -m "$V"
embed|"$BIN/tok" -q -s -b -l 64 -m "$B" "$t/big"|"$BIN/embed" -m "$B" -o "$t/kout.qkv"
nearest (queries)|"$BIN/embed" -q -m "$B" "$t/bids4"|"$BIN/nearest" "$t/vec.qkv"
nearest (index)|"$BIN/embed" -q -m "$B" "$t/bids4"|cat | "$BIN/nearest" /dev/fd/5 5<&0 <"$t/q.qkv"
nsp|$tokb "$t/big"|"$BIN/nsp" -b -m "$V" -o "$t/kout.qkv"
nsp --google|$tokb "$t/big"|"$BIN/nsp" --google -m "$V" -o "$t/kout.qkv"
mask|"$BIN/nsp" -b -m "$V" "$t/big.qkv"|"$BIN/mask" -m "$V" -o "$t/kout.qkv"
sample|"$BIN/tok" -q -b -m "$G" "$t/text"|"$BIN/sample" -m "$G" -n 1 -o "$t/kout.qkv"
sample --score|"$BIN/tok" -q -b -m "$G" "$t/text"|"$BIN/sample" --score -m "$G" -o "$t/kout.qkv"
pack -t|$tokb "$t/big"|"$BIN/pack" -t
pack -v|$tokb "$t/big"|"$BIN/pack" -v
pack -x|$tokb "$t/big"|"$BIN/pack" -q -x -C "$t/kx"
pack --corpus|$tokb "$t/big"|"$BIN/pack" --corpus -o "$t/kout.qkv"
pack --shards|"$BIN/mask" -b -m "$V" "$t/ibig.qkv"|"$BIN/pack" --shards -l 128 -o "$t/kx/shard"
EOF
while IFS='|' read -r name producer consumer; do
	rm -rf "$t/kx" "$t/kout.qkv"
	mkdir "$t/kx"
	blocked_kill "$producer" "$consumer" </dev/null
	w=$?
	prog=${name%% *}
	[ $w = 0 ] && [ $krc = 1 ] && grep -q "^$prog: .*truncated" "$t/kerr" &&
	    [ ! -e "$t/kout.qkv" ] && [ -z "$(ls -A "$t/kx")" ]
	r=$?
	ok $r "producer killed inside a record ($written bytes) | $name: truncated, exit 1 (got $krc)"
	[ $r = 0 ] || note "$t/kerr"
done <"$t/kcmds"

# ---- model files one byte short ----------------------------------------------
cut1() { s=$(wc -c <"$1"); head -c $((s - 1)) "$1" >"$2"; }
for m in bert gpt2; do
	src=$B
	[ $m = gpt2 ] && src=$G
	mkdir "$t/$m-short"
	cp "$src"/*.json "$src"/*.txt "$t/$m-short/"
	cut1 "$src/model.safetensors" "$t/$m-short/model.safetensors"
	cut1 "$t/$m.qkv" "$t/$m-short.qkv"
done
cat >"$t/mcmds" <<EOF
tok|bert|echo hello | "$BIN/tok" -m @
tok|gpt2|echo hello | "$BIN/tok" -m @
embed|bert|echo 2 3 | "$BIN/embed" -t -m @
mask --fill|bert|echo "[MASK] it" | "$BIN/mask" --fill -m @
nsp --score|bert|printf 'a\tb\n' | "$BIN/nsp" --score -m @
nsp|bert|echo 5 6 7 | "$BIN/nsp" -m @
mask|bert|echo 2 5 6 7 3 | "$BIN/mask" -m @
sample|gpt2|echo 5 6 | "$BIN/sample" -n 1 -m @
pack -i|bert|"$BIN/pack" -q -i @ -o "$t/reimport.qkv"
EOF
while IFS='|' read -r name m cmd; do
	for form in "$m-short" "$m-short.qkv"; do
		[ "$name" = "pack -i" ] && [ "$form" = "$m-short.qkv" ] && continue
		eval "$(echo "$cmd" | sed "s|@|$t/$form|")" >"$t/out" 2>"$t/err"
		rc=$?
		prog=${name%% *}
		[ $rc = 1 ] && [ ! -s "$t/out" ] && [ ! -e "$t/reimport.qkv" ] &&
		    grep -q "^$prog: .*$form" "$t/err" &&
		    [ "$(wc -l <"$t/err")" -eq 1 ]
		r=$?
		ok $r "$name -m $form (one byte short): refused, exit 1 (got $rc)"
		[ $r = 0 ] || note "$t/err"
	done
done <"$t/mcmds"
echo "1..$n"
