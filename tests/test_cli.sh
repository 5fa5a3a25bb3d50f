#!/bin/sh
# The fwdelta command as a release pipeline runs it: exit codes, one JSON
# object per run (parsed, also for paths with quotes, backslashes, newlines
# and non-UTF-8 bytes), streams through - , -f, which outputs are synced to
# disk, the messages that name what is wrong (wrong base, unwritable output,
# keys), and `key --c` output that compiles. The Makefile installs this as
# build/tests/test_cli; it finds the CLI beside its own directory. Ends with
# "N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
fw=${FWDELTA:-$here/../fwdelta}
[ -x "$fw" ] || { echo "test_cli: no CLI at $fw"; echo "0 passed, 1 failed"; exit 1; }
work=$(mktemp -d); trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work" || exit 1
unset FWDELTA_PASSPHRASE
pass=0; fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
# expect NAME WANT_RC CMD...: runs CMD with stdin from /dev/null (no
# terminal to prompt on), stdout in out, stderr in err; checks the exit code.
expect() {
  name=$1 want=$2; shift 2
  "$@" </dev/null >out 2>err; rc=$?
  if [ "$rc" -eq "$want" ]; then ok; else bad "$name: exit $rc, wanted $want; stderr: $(cat err)"; fi
}
# has FILE TEXT NAME: FILE contains TEXT (fixed string).
has() { if grep -qF -- "$2" "$1"; then ok; else bad "$3: '$2' not in $1: $(cat "$1")"; fi; }
# json NAME FIELD=VALUE...: out is exactly one JSON object with these fields
# (values compared as strings; "command" and "status" always present).
json() {
  name=$1; shift
  if python3 -c '
import json, sys
text = open("out", "rb").read().decode("ascii")
assert text.endswith("\n") and text.count("\n") == 1, "not one line"
o = json.loads(text)
assert isinstance(o.get("command"), str) and isinstance(o.get("status"), str), "no command/status"
for kv in sys.argv[1:]:
    k, v = kv.split("=", 1)
    assert str(o.get(k)) == v, "%s is %r, wanted %r" % (k, o.get(k), v)
' "$@" 2>jerr; then ok; else bad "$name: $(tail -n 1 jerr): $(cat out)"; fi
}
field() { python3 -c 'import json, sys; print(json.load(open("out"))[sys.argv[1]])' "$1"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { wc -c <"$1" | tr -d ' '; }

# A pair: 24 KiB of code-like bytes and a copy with a few local edits.
python3 -c '
import random
r = random.Random(16)
old = bytearray(r.choice(b"\x00\x01\x10\x20\x46\x47\x68\x70\xb5\xbd\xf0\xff") for _ in range(24576))
new = bytearray(old)
for off in (100, 9000, 20000):
    new[off:off + 24] = bytes(r.randrange(256) for _ in range(24))
open("old.bin", "wb").write(old); open("new.bin", "wb").write(new)
'

# ---- usage, version, keygen -------------------------------------------------
expect "no command" 2 "$fw"
has err "--version" "usage shows --version"
expect "--version" 0 "$fw" --version
has out "fwdelta" "--version prints the name"
expect "unknown option" 2 "$fw" diff --bogus
expect "keygen --json" 0 "$fw" keygen --json -o k.pem
json "keygen --json" command=keygen status=ok private_key=k.pem public_key=k.pub.pem
expect "keygen again" 4 "$fw" keygen -o k.pem
has err "k.pem exists (use -f to overwrite it)" "keygen refuses to overwrite"
expect "keygen -f" 0 "$fw" keygen -f -q -o k2.pem
expect "keygen -f over existing" 0 "$fw" keygen -f -q -o k2.pem
[ ! -s err ] && ok || bad "keygen -q printed: $(cat err)"
expect "keygen --device" 0 "$fw" keygen --device -q -o dev.pem
# disk_full CMD...: CMD as on a full disk (every write past 0 bytes fails with
# EFBIG); its stdout and stderr come through pipes, which the limit spares.
disk_full() {
  python3 -c 'import resource, signal, subprocess, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # inherited: EFBIG instead of the signal
r = subprocess.run(sys.argv[1:], capture_output=True, restore_signals=False,
                   preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0)))
sys.stdout.buffer.write(r.stdout); sys.stderr.buffer.write(r.stderr); sys.exit(r.returncode)' "$@"
}
expect "keygen, disk full" 4 disk_full "$fw" keygen -o full.pem
has err "cannot write full.pem or full.pub.pem: File too large" "keygen on a full disk says why"
[ ! -e full.pem ] && [ ! -e full.pub.pem ] && ok || bad "keygen on a full disk left $(ls full*)"
cp k2.pem k2.keep && cp k2.pub.pem k2.pub.keep
expect "keygen -f, disk full" 4 disk_full "$fw" keygen -f -o k2.pem
cmp -s k2.pem k2.keep && cmp -s k2.pub.pem k2.pub.keep && ok || bad "keygen -f on a full disk lost the old keys"
[ -z "$(ls | grep '\.tmp')" ] && ok || bad "keygen -f on a full disk left $(ls | grep '\.tmp')"
expect "keygen -f replaces" 0 "$fw" keygen -f -q -o k2.pem
cmp -s k2.pem k2.keep && bad "keygen -f kept the old private key" || ok

# ---- diff, info, verify, apply: files and JSON --------------------------------
expect "diff" 0 "$fw" diff --key k.pem --product board --security-version 3 old.bin new.bin -o p.fwd
has err "p.fwd:" "diff says what it wrote"
grep -q "$(printf '\r')" err && bad "progress printed without a terminal" || ok
expect "diff --json" 0 "$fw" diff --json -f --key k.pem --product board --security-version 3 old.bin new.bin -o p.fwd
json "diff --json" command=diff status=ok patch=p.fwd patch_size="$(size p.fwd)" product=board security_version=3 \
  old_sha256="$(sha old.bin)" new_sha256="$(sha new.bin)" new_size=24576
patch_id=$(head -c 256 p.fwd | sha256sum | cut -d' ' -f1)
json "diff patch_id" patch_id="$patch_id"
expect "diff over existing" 4 "$fw" diff --key k.pem old.bin new.bin -o p.fwd
has err "p.fwd exists (use -f to overwrite it)" "diff refuses to overwrite"
expect "info --json" 0 "$fw" info --json p.fwd
json "info --json" command=info status=ok patch_size="$(size p.fwd)" patch_id="$patch_id" encryption=none
signed=$(field signed_size)
[ "$signed" -le "$(size p.fwd)" ] && ok || bad "signed_size $signed"
expect "verify --json" 0 "$fw" verify --json --pubkey k.pub.pem p.fwd
json "verify --json" command=verify status=ok patch_size="$(size p.fwd)" signed_size="$signed" patch_id="$patch_id"
expect "verify -q" 0 "$fw" verify -q --pubkey k.pub.pem p.fwd
[ ! -s out ] && [ ! -s err ] && ok || bad "verify -q printed something"
expect "apply --json" 0 "$fw" apply --json --pubkey k.pub.pem old.bin p.fwd -o n.bin
json "apply --json" command=apply status=ok new=n.bin patch_id="$patch_id" new_sha256="$(sha new.bin)"
cmp -s n.bin new.bin && ok || bad "apply rebuilt a different image"
expect "verify with another key" 3 "$fw" verify --json --pubkey k2.pub.pem p.fwd
json "verify refusal --json" status=FWD_ERR_UNKNOWN_KEY patch_id="$patch_id"
expect "apply -v" 0 "$fw" apply -v -f --pubkey k.pub.pem old.bin p.fwd -o n.bin
has err "patch id $patch_id" "apply -v shows the patch id"
expect "info of a missing file" 4 "$fw" info --json missing.fwd
json "error --json" status=FWD_ERR_IO "message=cannot read PATCH missing.fwd: No such file or directory"

# ---- streams ----------------------------------------------------------------
if "$fw" diff -q --key k.pem old.bin new.bin -o - | "$fw" apply -q --pubkey k.pub.pem old.bin - -o - >s.bin &&
   cmp -s s.bin new.bin; then ok; else bad "diff -o - | apply - -o - is not the new image"; fi
"$fw" diff -q --key k.pem old.bin new.bin -o - >s.fwd
"$fw" diff -q --key k.pem old.bin new.bin -o plain.fwd
cmp -s s.fwd plain.fwd && ok || bad "diff -o - differs from diff -o FILE"
[ ! -e ./- ] && ok || bad "-o - wrote a file named -"
expect "info from stdin" 0 sh -c "'$fw' info --json - <p.fwd"
json "info - --json" patch_id="$patch_id" patch=-
expect "verify from stdin" 0 sh -c "'$fw' verify --pubkey k.pub.pem - <p.fwd"
expect "-o - with --json" 2 "$fw" diff --json --key k.pem old.bin new.bin -o -
json "-o - with --json" status=FWD_ERR_ARGUMENT

# ---- wrong base, unwritable output, no partial files --------------------------
head -c 24570 old.bin >short.bin
expect "wrong-size base" 3 "$fw" apply --pubkey k.pub.pem short.bin p.fwd -o w.bin
has err "patch is for base image $(sha old.bin) (24576 bytes), this image is $(sha short.bin) (24570 bytes)" \
  "wrong-size base message"
has err "FWD_ERR_WRONG_BASE" "wrong-size base is FWD_ERR_WRONG_BASE"
[ ! -e w.bin ] && ok || bad "a refused apply left w.bin"
expect "wrong base --json" 3 "$fw" apply --json --pubkey k.pub.pem short.bin p.fwd -o w.bin
json "wrong base --json" status=FWD_ERR_WRONG_BASE old_sha256="$(sha old.bin)"
if [ "$(id -u)" -eq 0 ]; then ro=/sys; else mkdir ro && chmod 555 ro && ro=$work/ro; fi
expect "unwritable output" 4 "$fw" diff --key k.pem old.bin new.bin -o "$ro/x.fwd"
has err "cannot write $ro/x.fwd: Permission denied" "unwritable output message"
ls | grep -q tmp && bad "temporary files left: $(ls)" || ok

# ---- durability: an output that replaces a file is synced before the rename ------
# (a new one is not: a crash can lose it, never older data). Traced with strace,
# which scripts/setup.sh installs for the suite.
synced() { # NAME WANT CMD...: the fsync and rename/link calls CMD makes, in order
  name=$1 want=$2; shift 2
  strace -f -qq -e trace=fsync,fdatasync,rename,renameat,renameat2,link,linkat -o trace "$@" </dev/null >out 2>err
  got=$(sed -n 's/^[0-9]* *\([a-z0-9]*\)(.*/\1/p' trace | tr '\n' ' ')
  [ "$got" = "$want" ] && ok || bad "$name: system calls '$got', wanted '$want'; stderr: $(cat err)"
}
if command -v strace >/dev/null; then
  rm -f d.fwd d2.fwd
  synced "new output" "link " "$fw" diff -q --key k.pem old.bin new.bin -o d.fwd
  synced "new output -f" "rename " "$fw" diff -q -f --key k.pem old.bin old.bin -o d2.fwd
  synced "replaced output" "fsync rename " "$fw" diff -q -f --key k.pem old.bin new.bin -o d2.fwd
  cmp -s d.fwd d2.fwd && ok || bad "the replacing diff did not write its patch"
  synced "keygen" "fsync fsync " "$fw" keygen -q -o sync.pem # key files always
  synced "keygen -f" "fsync fsync rename rename " "$fw" keygen -f -q -o sync.pem
else
  bad "strace is not installed (scripts/setup.sh check installs it)"
fi

# ---- keys: passphrases, wrong types, missing files ----------------------------
openssl ecparam -genkey -name prime256v1 2>/dev/null | openssl ec -aes256 -passout pass:xyz -out enc.pem 2>/dev/null
openssl ec -in enc.pem -passin pass:xyz -pubout -out enc.pub.pem 2>/dev/null
openssl genrsa -out rsa.pem 2048 2>/dev/null
expect "passphrase key" 0 env FWDELTA_PASSPHRASE=xyz "$fw" diff -q --key enc.pem old.bin new.bin -o e.fwd
expect "verify passphrase key's patch" 0 "$fw" verify --pubkey enc.pub.pem e.fwd
expect "wrong passphrase" 4 env FWDELTA_PASSPHRASE=abc "$fw" diff --key enc.pem old.bin new.bin -o e2.fwd
has err "enc.pem: wrong passphrase" "wrong passphrase message"
expect "no passphrase" 4 "$fw" diff --key enc.pem old.bin new.bin -o e2.fwd
has err "enc.pem is passphrase-protected" "missing passphrase message"
has err "FWDELTA_PASSPHRASE" "missing passphrase message names the variable"
expect "RSA key" 4 "$fw" diff --key rsa.pem old.bin new.bin -o e2.fwd
has err "rsa.pem is an RSA key; fwdelta needs a P-256 (prime256v1) EC key" "RSA key message"
expect "missing key" 4 "$fw" verify --pubkey nokey.pem p.fwd
has err "cannot open nokey.pem: No such file or directory" "missing key message"
expect "public key as private" 4 "$fw" diff --key k.pub.pem old.bin new.bin -o e2.fwd
has err "k.pub.pem is a public key" "public key given as private"
# The key is read into a buffer of its file's size; a pipe gets the most a
# key file can hold.
expect "key through a pipe" 0 sh -c '"$0" diff -q --key /dev/stdin old.bin new.bin -o e3.fwd <k.pem' "$fw"
"$fw" diff -q --key k.pem old.bin new.bin -o e4.fwd
cmp -s e3.fwd e4.fwd && ok || bad "a key through a pipe signs as the key file does"
{ cat k.pem; head -c 65536 /dev/zero; } >big.pem
expect "oversized key file" 4 "$fw" diff --key big.pem old.bin new.bin -o e2.fwd
has err "big.pem is larger than any key file" "oversized key file message"
expect "oversized key through a pipe" 4 sh -c '"$0" diff --key /dev/stdin old.bin new.bin -o e2.fwd <big.pem' "$fw"
has err "/dev/stdin is larger than any key file" "oversized piped key message"
expect "key is a directory" 4 "$fw" diff --key . old.bin new.bin -o e2.fwd
has err "cannot read .: Is a directory" "directory as key message"

# ---- key: C arrays for firmware ------------------------------------------------
expect "key pub --c" 0 "$fw" key pub --c --name signer k.pem
cp out pub.c
cc -std=c11 -Wall -Wextra -Werror -c pub.c -o pub.o 2>cc.err && ok || bad "key pub --c does not compile: $(cat cc.err)"
expect "key id" 0 "$fw" key id k.pub.pem
key_id=$(cat out)
expect "info key id" 0 "$fw" info --json p.fwd
json "signer key id" key_id="$key_id"
# The C array's 65 bytes are the point whose key id (first 8 bytes of its
# SHA-256) the patch names, and what `key pub` and `key --json` print.
point=$(python3 -c '
import re, hashlib, sys
b = bytes(int(x, 16) for x in re.findall(r"0x([0-9a-f]{2})", open("pub.c").read()))
assert len(b) == 65 and b[0] == 4, len(b)
assert hashlib.sha256(b).hexdigest()[:16] == sys.argv[1], "key id"
print(b.hex())' "$key_id") && ok || bad "key pub --c bytes do not match key id $key_id"
expect "key pub" 0 "$fw" key pub k.pub.pem
[ "$(cat out)" = "$point" ] && ok || bad "key pub hex differs from the C array"
has pub.c "$key_id" "key pub --c comment gives the key id"
expect "key pub --json" 0 "$fw" key pub --json --c k.pem
json "key pub --json" command=key status=ok key_id="$key_id" public_key="$point"
expect "key priv --c" 0 "$fw" key priv --c dev.pem
cp out priv.c
cc -std=c11 -Wall -Wextra -Werror -c priv.c -o priv.o 2>cc.err && ok || bad "key priv --c does not compile: $(cat cc.err)"
has priv.c "fwd_device_key_id[8]" "key priv --c has the key id array"
expect "key priv of a public key" 4 "$fw" key priv dev.pub.pem
expect "key --name not an identifier" 2 "$fw" key pub --c --name "1x" k.pem
expect "key with a passphrase" 0 env FWDELTA_PASSPHRASE=xyz "$fw" key id --json enc.pem
json "key id --json" command=key status=ok

# ---- warnings and refusals of diff ---------------------------------------------
: >empty.bin
expect "empty NEW" 0 "$fw" diff --key k.pem old.bin empty.bin -o empty.fwd
has err "warning: NEW empty.bin is empty" "empty NEW warning"
expect "empty NEW -q" 0 "$fw" diff -q -f --key k.pem old.bin empty.bin -o empty.fwd
[ ! -s err ] && ok || bad "-q still warned: $(cat err)"
expect "empty NEW --json" 0 "$fw" diff --json -f --key k.pem old.bin empty.bin -o empty.fwd
json "empty NEW --json warning" new_size=0
expect "signing key as recipient" 2 "$fw" diff --key k.pem --encrypt-for k.pub.pem old.bin new.bin -o r.fwd
has err "the signing key must not be a recipient" "signing key as recipient message"
[ ! -e r.fwd ] && ok || bad "refused diff wrote r.fwd"

# ---- wrap ------------------------------------------------------------------------
expect "encrypted diff" 0 "$fw" diff -q --key k.pem --encrypt-for dev.pub.pem old.bin new.bin -o enc.fwd
expect "keygen dev2" 0 "$fw" keygen -q --device -o dev2.pem
expect "wrap --json" 0 "$fw" wrap --json --device-key dev.pem --key-for dev2.pub.pem enc.fwd -o enc2.fwd
json "wrap --json" command=wrap status=ok patch=enc2.fwd encryption=aes128ctr-ecies-p256 patch_size="$(size enc2.fwd)"
python3 -c 'import json; assert len(json.load(open("out"))["recipient_key_ids"]) == 2' && ok || bad "wrap recipients"
expect "apply wrapped for dev2" 0 "$fw" apply -q --pubkey k.pub.pem --device-key dev2.pem old.bin enc2.fwd -o n2.bin
cmp -s n2.bin new.bin && ok || bad "wrapped patch rebuilt a different image"
expect "diff --content-key-out" 0 "$fw" diff -q --key k.pem --encrypt-for dev.pub.pem --content-key-out ck.hex \
  old.bin new.bin -o enc3.fwd
[ "$(stat -c %a ck.hex)" = 600 ] && [ "$(size ck.hex)" = 33 ] && ok || bad "content key file: $(ls -l ck.hex)"
expect "wrap --content-key" 0 "$fw" wrap -q --content-key ck.hex --key-for dev2.pub.pem enc3.fwd -o enc4.fwd
expect "apply with the content key's entry" 0 "$fw" apply -q --pubkey k.pub.pem --device-key dev2.pem old.bin \
  enc4.fwd -o n3.bin
cmp -s n3.bin new.bin && ok || bad "patch wrapped from the content key rebuilt a different image"
expect "content key file exists" 4 "$fw" diff -q -f --key k.pem --encrypt-for dev.pub.pem --content-key-out ck.hex \
  old.bin new.bin -o enc3.fwd
has err "cannot write ck.hex: File exists (an existing content key file is never overwritten)" \
  "content key file is never overwritten"

# ---- strings in JSON: quotes, backslashes, newlines, other bytes ------------------
for d in 'q"uote' 'back\slash' 'new
line' "$(printf 'bytes\377\001\303\251')"; do
  mkdir -p "$d"
  cp old.bin new.bin "$d/"
  expect "diff in a strange directory" 0 "$fw" diff --json --key k.pem "$d/old.bin" "$d/new.bin" -o "$d/p.fwd"
  json "diff --json path escaping"
  python3 -c '
import json, os, sys
want = os.fsdecode(sys.argv[1].encode("utf-8", "surrogateescape"))
got = json.load(open("out"))["patch"]
assert got == want or "\ufffd" in got, (got, want)' "$d/p.fwd" && ok || bad "patch path did not round-trip: $(cat out)"
  expect "info in a strange directory" 0 "$fw" info --json "$d/p.fwd"
  json "info --json path escaping"
  expect "error in a strange directory" 4 "$fw" verify --json --pubkey "$d/none.pem" "$d/p.fwd"
  json "error --json path escaping" status=FWD_ERR_IO
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
