#!/usr/bin/env bash
# Checks a certdesk audit export (written by certdesk_audit::export) with OpenSSL 3 alone.
#
# Usage: scripts/verify-audit-export.sh EXPORT_DIR
#
# For every NNNN.bin, in order:
#   1. the SM2 signature NNNN.sig verifies over NNNN.bin with public_key.pem and the
#      distinguishing id in distid.txt:
#        openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -digest sm3 \
#            -pkeyopt distid:<distid> -in NNNN.bin -sigfile NNNN.sig
#   2. SM3 of NNNN.bin (openssl dgst -sm3) equals the hash in NNNN.sm3;
#   3. NNNN.bin starts with the line "certdesk-audit-entry/v1", its line 2 is
#      "prev_hash=<hex>" naming the hash in the previous entry's .sm3 (64 zeros for the
#      first entry), and its line 4 "seq=<n>" goes up by one from 1.
# Prints one line per entry (OK, or FAILED with the reasons and the file concerned) and exits
# 0 if every entry passed, 1 if any failed, 2 on a usage error or missing tool/file.
# Needs only bash, openssl and coreutils (tail).
set -uo pipefail

readonly HEADER='certdesk-audit-entry/v1'
readonly ZERO_HASH='0000000000000000000000000000000000000000000000000000000000000000'

die() {
    echo "verify-audit-export: $*" >&2
    exit 2
}

[[ $# -eq 1 ]] || die "usage: $0 EXPORT_DIR"
dir=${1%/}
[[ -d $dir ]] || die "$dir is not a directory"
command -v openssl >/dev/null 2>&1 || die "openssl not found on PATH"

pub="$dir/public_key.pem"
[[ -f $pub ]] || die "missing $pub"
[[ -f "$dir/distid.txt" ]] || die "missing $dir/distid.txt"
IFS= read -r distid <"$dir/distid.txt" || [[ -n ${distid:-} ]] || die "empty $dir/distid.txt"
distid=${distid%$'\r'}
[[ $distid =~ ^[[:graph:]]+$ ]] || die "distid.txt must hold one distinguishing id without spaces"
openssl pkey -pubin -in "$pub" -noout 2>/dev/null || die "$pub is not a public key OpenSSL can read"

# Key id as certdesk records it: first 16 hex digits of SM3 of the 65-byte SEC1 point,
# the last 65 bytes of the DER SubjectPublicKeyInfo.
key_id=$(openssl pkey -pubin -in "$pub" -outform DER | tail -c 65 | openssl dgst -sm3 -r)
echo "public key: $pub (key id ${key_id:0:16}; compare with the key the CA publishes)"
echo "distid: $distid"

shopt -s nullglob
bins=("$dir"/[0-9]*.bin)
if [[ ${#bins[@]} -eq 0 ]]; then
    echo "FAILED: no NNNN.bin entry files in $dir"
    exit 1
fi

failures=0
prev_hash=$ZERO_HASH
prev_name=''
prev_seq=0
for bin in "${bins[@]}"; do
    name=${bin##*/}
    stem=${bin%.bin}
    sig="$stem.sig"
    sm3="$stem.sm3"
    reasons=()

    # 1. Signature.
    if [[ ! -f $sig ]]; then
        reasons+=("missing ${sig##*/}")
    elif ! openssl pkeyutl -verify -pubin -inkey "$pub" -rawin -digest sm3 \
        -pkeyopt "distid:$distid" -in "$bin" -sigfile "$sig" >/dev/null 2>&1; then
        reasons+=("signature ${sig##*/} does not verify over $name")
    fi

    # 2. Hash.
    actual=$(openssl dgst -sm3 -r "$bin" 2>/dev/null)
    actual=${actual%% *}
    recorded=''
    if [[ ! -f $sm3 ]]; then
        reasons+=("missing ${sm3##*/}")
    else
        IFS= read -r recorded <"$sm3" || true
        recorded=${recorded%$'\r'}
        if [[ ! $recorded =~ ^[0-9a-f]{64}$ ]]; then
            reasons+=("${sm3##*/} does not hold a 64-digit hex hash")
        elif [[ $actual != "$recorded" ]]; then
            reasons+=("SM3 of $name is $actual but ${sm3##*/} records $recorded")
        fi
    fi

    # 3. Format, chain link and seq, read from the first lines of the .bin.
    line1='' line2='' line3='' line4=''
    { IFS= read -r line1; IFS= read -r line2; IFS= read -r line3; IFS= read -r line4; } <"$bin" 2>/dev/null
    seq=''
    if [[ $line1 != "$HEADER" ]]; then
        reasons+=("$name does not start with the line $HEADER")
    else
        if [[ $line2 =~ ^prev_hash=([0-9a-f]{64})$ ]]; then
            if [[ ${BASH_REMATCH[1]} != "$prev_hash" ]]; then
                if [[ -z $prev_name ]]; then
                    reasons+=("chain broken: prev_hash in $name is ${BASH_REMATCH[1]}, but the first entry must have $ZERO_HASH")
                else
                    reasons+=("chain broken: prev_hash in $name is ${BASH_REMATCH[1]}, but the hash of $prev_name is $prev_hash")
                fi
            fi
        else
            reasons+=("line 2 of $name is not prev_hash=<64 hex digits>")
        fi
        if [[ $line4 =~ ^seq=([1-9][0-9]{0,17})$ ]]; then
            seq=${BASH_REMATCH[1]}
            if ((seq != prev_seq + 1)); then
                reasons+=("seq in $name is $seq, expected $((prev_seq + 1)) (entries missing, inserted or reordered)")
            fi
        else
            reasons+=("line 4 of $name is not seq=<positive integer>")
        fi
    fi

    if [[ ${#reasons[@]} -eq 0 ]]; then
        echo "OK      $name (seq $seq)"
    else
        failures=$((failures + 1))
        msg="FAILED  $name:"
        for r in "${reasons[@]}"; do
            msg+=" $r;"
        done
        echo "${msg%;}"
    fi

    # The next entry must link to the hash recorded for this one (checked above against
    # the content), so a failure is reported on the entry where it happened.
    if [[ $recorded =~ ^[0-9a-f]{64}$ ]]; then
        prev_hash=$recorded
    else
        prev_hash=$actual
    fi
    prev_name=$name
    if [[ -n $seq ]]; then
        prev_seq=$seq
    else
        prev_seq=$((prev_seq + 1))
    fi
done

if ((failures > 0)); then
    echo "FAILED: $failures of ${#bins[@]} entries did not verify"
    exit 1
fi
echo "OK: all ${#bins[@]} entries verified (signatures, hashes, chain)"
