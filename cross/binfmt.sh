# Sourced by cross/build.sh and cross/test-in-arm64-root.sh (bash, as root):
#   enable_binfmt ARCH    ARCH = aarch64 or arm
# Registers qemu-ARCH-static (Debian qemu-user-static) with the kernel's binfmt_misc, so
# that the target's programs run as if they were native: test programs that start
# birdsong-agent, and chroots of the target's Debian. Its F flag opens qemu now, so a
# chroot needs no copy of it. Returns non-zero with a message when that cannot be done.
enable_binfmt() {
  local arch=$1
  [ -e "/proc/sys/fs/binfmt_misc/qemu-$arch" ] && return 0
  [ -e "/usr/lib/binfmt.d/qemu-$arch.conf" ] || { echo "binfmt: qemu-user-static is not installed" >&2; return 1; }
  if ! mountpoint -q /proc/sys/fs/binfmt_misc; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || return 1
  fi
  if [ -x /lib/systemd/systemd-binfmt ] && /lib/systemd/systemd-binfmt "qemu-$arch.conf" 2>/dev/null; then :; else
    cat "/usr/lib/binfmt.d/qemu-$arch.conf" > /proc/sys/fs/binfmt_misc/register || return 1
  fi
  [ -e "/proc/sys/fs/binfmt_misc/qemu-$arch" ] || { echo "binfmt: could not register qemu-$arch" >&2; return 1; }
  echo "binfmt: registered qemu-$arch with binfmt_misc" >&2
}
