# shellcheck shell=bash
# cross-roots.sh: sourced by scripts/cross-build and scripts/arm64-test. The two Debian trixie
# roots they work in, made once from Debian's archive and kept outside the tree:
#
#   $CAPSPAWN_CROSS_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/capspawn)
#     build-root/   trixie amd64: Debian's Rust (rustc 1.85, cargo) with the arm64 standard library
#                   (libstd-rust-dev:arm64), Debian's aarch64 cross gcc and binutils, and the VM's
#                   tools (qemu-system-aarch64, virtiofsd, qemu-aarch64-static). About 2.6 GB.
#     kernel/       trixie's arm64 kernel (vmlinuz, from linux-image-*-arm64; virtio and virtiofs
#                   are built in, so no initrd).
#     vm-root/      trixie arm64 with nodejs, gcc, libcap2-bin, python3 and iproute2: the VM's root.
#
# Why a chroot: this host's Debian (bookworm) has Rust 1.63, older than the crates' 1.74 minimum,
# and neither QEMU 10 nor virtiofsd. Everything is run in a mount namespace of its own
# (`unshare --mount`): the bind mounts into the roots live only as long as the command, so
# nothing stays mounted on the host whatever happens (an error, a signal, a killed job).
#
# Machine-wide state: none is changed. The arm64 root's second debootstrap stage needs
# binfmt_misc to run arm64 programs with qemu-aarch64-static; it is done in a user namespace of
# its own (Linux 6.7 and later give each user namespace its own binfmt_misc instance), so the
# host's binfmt_misc is neither mounted nor changed.

CACHE=${CAPSPAWN_CROSS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/capspawn}
BUILD_ROOT=$CACHE/build-root
VM_ROOT=$CACHE/vm-root
KERNEL_DIR=$CACHE/kernel
MIRROR=${CAPSPAWN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=trixie
# What build-root has in it; a change here remakes it (the list is kept in its ready marker).
BUILD_PACKAGES="rustc cargo libstd-rust-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross
  binutils-aarch64-linux-gnu gcc libc6-dev ca-certificates qemu-system-arm qemu-user-static virtiofsd"
# What the VM's root has beside the minimal base: node, gcc (deployments.test.ts and
# doctor.test.ts build a seccomp helper), setcap/capsh, python3 (hardening.test.ts and
# cli.test.ts bind port 80 with it), ip (the loopback interface up).
VM_PACKAGES=nodejs,libcap2-bin,gcc,libc6-dev,python3-minimal,iproute2
READY=.capspawn-ready

log() { echo "${LOG_PREFIX:-cross}: $*" >&2; }
die() { echo "${LOG_PREFIX:-cross}: $*" >&2; exit 1; }

need_host_tools() {
  [ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mount namespaces)"
  [ "$(uname -m)" = x86_64 ] || die "made for an x86_64 host (this is $(uname -m))"
  local missing=
  for tool in debootstrap unshare chroot; do command -v "$tool" >/dev/null || missing="$missing $tool"; done
  [ -z "$missing" ] || die "missing:$missing (Debian: apt-get install debootstrap util-linux coreutils)"
}

# in_root ROOT CMD...: runs CMD chrooted into ROOT, in a mount namespace of its own with /proc,
# /dev and /tmp (a tmpfs) mounted and each directory named in $BIND_DIRS (space-separated
# absolute paths) bind-mounted at the same path, so absolute paths (the tree, vendor/ in
# .cargo/config.toml, the napi toolchain) mean the same inside and out.
in_root() {
  local root=$1; shift
  unshare --mount --fork bash -c '
    set -euo pipefail
    root=$1; shift
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs tmpfs "$root/tmp"
    for dir in $BIND_DIRS; do mkdir -p "$root$dir"; mount --bind "$dir" "$root$dir"; done
    exec chroot "$root" /usr/bin/env -i -C "${ROOT_CWD:-/}" PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
      DEBIAN_FRONTEND=noninteractive ${ROOT_ENV:-} "$@"
  ' in_root "$root" "$@"
}

ensure_build_root() {
  if [ -f "$BUILD_ROOT/$READY" ] && [ "$(cat "$BUILD_ROOT/$READY")" = "$(echo $BUILD_PACKAGES)" ]; then
    return 0
  fi
  need_host_tools
  log "making the trixie amd64 build root in $BUILD_ROOT (once; a few minutes)"
  local tmp=$BUILD_ROOT.tmp
  rm -rf "$tmp" "$BUILD_ROOT"
  mkdir -p "$CACHE"
  nice -n 10 debootstrap --variant=minbase "$SUITE" "$tmp" "$MIRROR" >"$CACHE/build-root.log" 2>&1 ||
    { tail -20 "$CACHE/build-root.log" >&2; die "debootstrap of $tmp failed (log: $CACHE/build-root.log)"; }
  # shellcheck disable=SC2086
  BIND_DIRS= in_root "$tmp" sh -c "dpkg --add-architecture arm64 && apt-get update -qq &&
      nice -n 10 apt-get install -y -qq --no-install-recommends $(echo $BUILD_PACKAGES) && apt-get clean" \
    >>"$CACHE/build-root.log" 2>&1 ||
    { tail -20 "$CACHE/build-root.log" >&2; die "installing the build packages failed (log: $CACHE/build-root.log)"; }
  echo $BUILD_PACKAGES >"$tmp/$READY"
  mv "$tmp" "$BUILD_ROOT"
}

# The arm64 kernel: the newest linux-image-*-arm64 that trixie's linux-image-arm64 depends on,
# unpacked (not installed: nothing of it runs here).
ensure_kernel() {
  [ -f "$KERNEL_DIR/vmlinuz" ] && return 0
  ensure_build_root
  log "fetching trixie's arm64 kernel into $KERNEL_DIR (once)"
  rm -rf "$KERNEL_DIR.tmp"; mkdir -p "$KERNEL_DIR.tmp"
  BIND_DIRS="$KERNEL_DIR.tmp" in_root "$BUILD_ROOT" sh -c '
      set -e; cd "$1"; apt-get update -qq
      image=$(apt-cache depends linux-image-arm64:arm64 | sed -n "s/^ *Depends: \(linux-image-[0-9].*-arm64\).*/\1/p" | head -1)
      [ -n "$image" ] || { echo "no linux-image-*-arm64 found" >&2; exit 1; }
      apt-get download -qq "$image:arm64"
      dpkg-deb -x ./*.deb x
      cp x/boot/vmlinuz-* vmlinuz; basename x/boot/vmlinuz-* >version; rm -rf x ./*.deb' sh "$KERNEL_DIR.tmp" \
    >"$CACHE/kernel.log" 2>&1 || { tail -20 "$CACHE/kernel.log" >&2; die "fetching the kernel failed"; }
  rm -rf "$KERNEL_DIR"; mv "$KERNEL_DIR.tmp" "$KERNEL_DIR"
}

# userns_run CMD...: CMD as root of a new user namespace that maps every id to itself, in new
# mount, pid and network namespaces owned by it. A binfmt_misc mounted there is that namespace's
# own instance (Linux 6.7+), invisible to the host and gone with it.
userns_run() {
  local fifo pid mine
  fifo=$(mktemp -u "${TMPDIR:-/tmp}/capspawn-userns.XXXXXX"); mkfifo "$fifo"
  nice -n 10 unshare --user bash -c 'read -r _ <"$0"; rm -f "$0"; exec unshare --mount --pid --net --fork --kill-child --mount-proc "$@"' \
    "$fifo" "$@" &
  pid=$!
  mine=$(readlink /proc/self/ns/user)
  for _ in $(seq 200); do [ "$(readlink "/proc/$pid/ns/user" 2>/dev/null)" != "$mine" ] && break; sleep 0.05; done
  echo "0 0 4294967295" >"/proc/$pid/uid_map"
  echo "0 0 4294967295" >"/proc/$pid/gid_map"
  echo go >"$fifo"
  wait "$pid"
}

# second_stage BUILD_ROOT TARGET: in userns_run's namespaces, arm64 programs run by the kernel through
# a private binfmt_misc entry for qemu-aarch64-static (F: opened now, so it works in the chroot).
# container=lxc: debootstrap's check that the target allows device nodes (mknod) is skipped; in a
# user namespace mknod is refused, and the nodes it needs were made by the first stage.
second_stage() {
  set -euo pipefail
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  printf ':capspawn-aarch64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:%s:F\n' \
    "$1/usr/bin/qemu-aarch64-static" >/proc/sys/fs/binfmt_misc/register
  mount --rbind /dev "$2/dev"
  container=lxc chroot "$2" /debootstrap/debootstrap --second-stage
}

ensure_vm_root() {
  [ -f "$VM_ROOT/$READY" ] && [ "$(cat "$VM_ROOT/$READY")" = "$VM_PACKAGES" ] && return 0
  need_host_tools
  ensure_build_root
  [ -e /proc/sys/fs/binfmt_misc ] || die "the kernel has no binfmt_misc, needed for the arm64 root's second stage"
  local tmp=$VM_ROOT.tmp
  rm -rf "$tmp" "$VM_ROOT"
  log "making the trixie arm64 VM root in $VM_ROOT, first stage (once)"
  nice -n 10 debootstrap --foreign --arch=arm64 --variant=minbase --include="$VM_PACKAGES" \
    "$SUITE" "$tmp" "$MIRROR" >"$CACHE/vm-root.log" 2>&1 ||
    { tail -20 "$CACHE/vm-root.log" >&2; die "debootstrap --foreign of $tmp failed (log: $CACHE/vm-root.log)"; }
  log "second stage under qemu-aarch64-static (once; about 10 minutes)"
  userns_run bash -c "$(declare -f second_stage); second_stage \"\$@\"" second-stage "$BUILD_ROOT" "$tmp" \
    >>"$CACHE/vm-root.log" 2>&1 ||
    { tail -20 "$CACHE/vm-root.log" >&2; die "the second stage failed (log: $CACHE/vm-root.log)"; }
  echo "$VM_PACKAGES" >"$tmp/$READY"
  mv "$tmp" "$VM_ROOT"
}
