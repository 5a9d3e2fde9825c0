#include "dally/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/stat.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "dally/blocking.hpp"
#include "dally/runtime.hpp"

namespace dally {

namespace {

static_assert(sizeof(struct statx) <= sizeof(detail::StatxBuffer));

// IORING_FSYNC_DATASYNC (liburing's io_uring.h is kept out of this file).
constexpr std::uint32_t fsync_datasync = 1U << 0;
using detail::current_position;

bool has_nul(const std::string& s) noexcept { return s.find('\0') != std::string::npos; }

FileType type_of_mode(unsigned mode) noexcept {
    switch (mode & S_IFMT) {
        case S_IFREG:
            return FileType::regular;
        case S_IFDIR:
            return FileType::directory;
        case S_IFLNK:
            return FileType::symlink;
        case 0:
            return FileType::unknown;
        default:
            return FileType::other;
    }
}

}  // namespace

FileStat detail::to_file_stat(const StatxBuffer& b) noexcept {
    struct statx sx;
    std::memcpy(&sx, b.bytes, sizeof sx);
    FileStat st;
    st.size = sx.stx_size;
    st.mode = sx.stx_mode & 07777U;
    st.type = type_of_mode(sx.stx_mode);
    st.mtime = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::seconds(sx.stx_mtime.tv_sec) +
            std::chrono::nanoseconds(sx.stx_mtime.tv_nsec)));
    return st;
}

// ---------------------------------------------------------------- awaitables

OpenAwaitable::OpenAwaitable(std::string path, int flags, std::uint32_t mode, int invalid)
    : m_path(std::move(path)), m_invalid(invalid) {
    what = "dally::File::open";
    if (m_invalid == 0 && has_nul(m_path)) m_invalid = EINVAL;
    op.code = detail::OpCode::openat;
    op.fd = AT_FDCWD;
    op.op_flags = static_cast<std::uint32_t>(flags);
    op.len = mode;
}

OpenAwaitable::OpenAwaitable(OpenAwaitable&& o) noexcept
    : detail::OpAwaitable(o),
      m_path(std::move(o.m_path)),
      m_invalid(o.m_invalid),
      m_submitted(std::exchange(o.m_submitted, false)) {}

OpenAwaitable::~OpenAwaitable() {
    // The task was destroyed after the open completed but before it resumed (shutdown).
    if (m_submitted && op.pending == 0 && op.res >= 0) detail::close_fd(op.res);
}

Result<File> OpenAwaitable::await_resume() {
    m_submitted = false;
    if (op.res < 0) return detail::void_result(op).error();
    return File(op.res);
}

PathAwaitable::PathAwaitable(std::string path, std::string path2)
    : m_path(std::move(path)), m_path2(std::move(path2)) {
    op.fd = AT_FDCWD;
}

PathAwaitable::PathAwaitable(PathAwaitable&& o) noexcept
    : detail::OpAwaitable(o), m_path(std::move(o.m_path)), m_path2(std::move(o.m_path2)) {}

bool PathAwaitable::point_at_paths() noexcept {
    if (has_nul(m_path) || has_nul(m_path2)) {
        op.res = -EINVAL;
        return false;
    }
    op.buf = m_path.data();
    if (op.code == detail::OpCode::renameat)
        op.offset = reinterpret_cast<std::uintptr_t>(m_path2.c_str());
    return true;
}

StatAwaitable::StatAwaitable(int dirfd, std::string path, std::uint32_t at_flags)
    : m_path(std::move(path)) {
    what = "dally stat";
    op.code = detail::OpCode::statx;
    op.fd = dirfd;
    op.op_flags = at_flags;
    op.len = STATX_TYPE | STATX_MODE | STATX_SIZE | STATX_MTIME;
}

StatAwaitable::StatAwaitable(StatAwaitable&& o) noexcept
    : detail::OpAwaitable(o), m_path(std::move(o.m_path)), m_buf(o.m_buf) {}

bool StatAwaitable::point_at_buffers() noexcept {
    if (has_nul(m_path)) {
        op.res = -EINVAL;
        return false;
    }
    op.buf = m_path.data();
    op.offset = reinterpret_cast<std::uintptr_t>(&m_buf);
    return true;
}

Result<FileStat> StatAwaitable::await_resume() const noexcept {
    if (op.res < 0) return detail::void_result(op).error();
    return detail::to_file_stat(m_buf);
}

// ---------------------------------------------------------------- File

File& File::operator=(File&& o) noexcept {
    if (this != &o) {
        detail::close_fd(m_fd);
        m_fd = std::exchange(o.m_fd, -1);
    }
    return *this;
}

File::~File() { detail::close_fd(m_fd); }

OpenAwaitable File::open(std::string path, OpenOptions o) {
    const bool writes = o.write || o.append;
    int invalid = 0;
    if (!o.read && !writes) invalid = EINVAL;
    if ((o.create || o.truncate || o.exclusive) && !writes) invalid = EINVAL;
    int flags = O_CLOEXEC;
    flags |= o.read ? (writes ? O_RDWR : O_RDONLY) : O_WRONLY;
    if (o.create) flags |= O_CREAT;
    if (o.truncate) flags |= O_TRUNC;
    if (o.append) flags |= O_APPEND;
    if (o.exclusive) flags |= O_EXCL;
    return OpenAwaitable(std::move(path), flags, o.mode & 07777U, invalid);
}

OpenAwaitable File::create(std::string path, std::uint32_t mode) {
    return open(std::move(path),
                {.read = false, .write = true, .create = true, .truncate = true, .mode = mode});
}

SizeAwaitable File::read_at(std::span<std::byte> buf, std::uint64_t offset) noexcept {
    return detail::io_op(detail::OpCode::read, "dally::File::read_at", m_fd, buf.data(), buf.size(),
                 offset);
}

SizeAwaitable File::write_at(std::span<const std::byte> data, std::uint64_t offset) noexcept {
    return detail::io_op(detail::OpCode::write, "dally::File::write_at", m_fd, data.data(), data.size(),
                 offset);
}

SizeAwaitable File::read(std::span<std::byte> buf) noexcept {
    return detail::io_op(detail::OpCode::read, "dally::File::read", m_fd, buf.data(), buf.size(),
                 current_position);
}

SizeAwaitable File::write(std::span<const std::byte> data) noexcept {
    return detail::io_op(detail::OpCode::write, "dally::File::write", m_fd, data.data(), data.size(),
                 current_position);
}

WriteAllAwaitable File::write_all_at(std::span<const std::byte> data,
                                     std::uint64_t offset) noexcept {
    return {detail::OpCode::write, "dally::File::write_all_at", m_fd, data, offset, std::errc::io_error};
}

Task<Result<std::string>> File::read_all() {
    std::string out;
    // The size is a hint only: the file may change, and procfs files report 0.
    std::size_t want = 64 * 1024;
    if (auto st = co_await stat(); st && st->is_regular() && st->size + 1 > want) {
        want = static_cast<std::size_t>(st->size) + 1;  // +1: see EOF without growing
    }
    out.resize(want);
    std::size_t used = 0;
    for (;;) {
        if (used == out.size()) out.resize(out.size() * 2);
        auto r = co_await read(std::span<char>(out.data() + used, out.size() - used));
        if (!r) co_return r.error();
        if (*r == 0) break;
        used += *r;
    }
    out.resize(used);
    co_return out;
}

VoidAwaitable File::fsync() noexcept {
    VoidAwaitable a;
    a.what = "dally::File::fsync";
    a.op.code = detail::OpCode::fsync;
    a.op.fd = m_fd;
    return a;
}

VoidAwaitable File::datasync() noexcept {
    VoidAwaitable a = fsync();
    a.what = "dally::File::datasync";
    a.op.op_flags = fsync_datasync;
    return a;
}

StatAwaitable File::stat() const { return StatAwaitable(m_fd, std::string(), AT_EMPTY_PATH); }

VoidAwaitable File::close() noexcept {
    VoidAwaitable a;
    a.what = "dally::File::close";
    a.op.code = detail::OpCode::close;
    a.op.fd = std::exchange(m_fd, -1);
    return a;
}

// ---------------------------------------------------------------- fs

namespace fs {

StatAwaitable stat(std::string path) { return StatAwaitable(AT_FDCWD, std::move(path), 0); }

PathAwaitable rename(std::string from, std::string to) {
    PathAwaitable a(std::move(from), std::move(to));
    a.what = "dally::fs::rename";
    a.op.code = detail::OpCode::renameat;
    return a;
}

PathAwaitable unlink(std::string path) {
    PathAwaitable a(std::move(path));
    a.what = "dally::fs::unlink";
    a.op.code = detail::OpCode::unlinkat;
    return a;
}

PathAwaitable rmdir(std::string path) {
    PathAwaitable a = unlink(std::move(path));
    a.what = "dally::fs::rmdir";
    a.op.op_flags = AT_REMOVEDIR;
    return a;
}

PathAwaitable mkdir(std::string path, std::uint32_t mode) {
    PathAwaitable a(std::move(path));
    a.what = "dally::fs::mkdir";
    a.op.code = detail::OpCode::mkdirat;
    a.op.len = mode & 07777U;
    return a;
}

Task<Result<std::string>> read_file(std::string path) {
    auto f = co_await File::open(std::move(path));
    if (!f) co_return f.error();
    auto data = co_await f->read_all();
    (void)co_await f->close();  // read-only: a close error loses nothing
    co_return data;
}

Task<Result<void>> write_file(std::string path, std::string data) {
    auto f = co_await File::create(std::move(path));
    if (!f) co_return f.error();
    auto w = co_await f->write_all(std::span<const char>(data));
    auto c = co_await f->close();
    if (!w) co_return w.error();
    co_return c;
}

Task<Result<std::vector<DirEntry>>> list_dir(std::string path) {
    // Built outside the co_await expression: GCC 12 destroys a temporary that owns memory
    // (this lambda and its string) twice when it is created within `co_await ...`.
    auto listing = spawn_blocking([path = std::move(path)] { return list_dir_blocking(path); });
    co_return co_await listing;
}

Result<std::vector<DirEntry>> list_dir_blocking(const std::string& path) {
    if (has_nul(path)) return errno_code(EINVAL);
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(path.c_str()), &::closedir);
    if (!dir) return errno_code(errno);
    std::vector<DirEntry> out;
    for (;;) {
        errno = 0;
        const dirent* e = ::readdir(dir.get());
        if (e == nullptr) {
            if (errno != 0) return errno_code(errno);
            break;
        }
        std::string_view name = e->d_name;
        if (name == "." || name == "..") continue;
        DirEntry entry{std::string(name), FileType::unknown};
        switch (e->d_type) {
            case DT_REG:
                entry.type = FileType::regular;
                break;
            case DT_DIR:
                entry.type = FileType::directory;
                break;
            case DT_LNK:
                entry.type = FileType::symlink;
                break;
            case DT_UNKNOWN: {
                // Some filesystems do not fill d_type; ask for the entry itself.
                struct stat st {};
                if (::fstatat(::dirfd(dir.get()), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                    entry.type = type_of_mode(st.st_mode);
                }
                break;
            }
            default:
                entry.type = FileType::other;
                break;
        }
        out.push_back(std::move(entry));
    }
    return out;
}

}  // namespace fs
}  // namespace dally
