// dally/fs.hpp: files and the filesystem, on the ring.
//
// Opening, reading, writing, fsync, stat, rename, unlink and mkdir are io_uring operations
// (IORING_OP_OPENAT, READ, WRITE, FSYNC, STATX, RENAMEAT, UNLINKAT, MKDIRAT), so a task
// waiting on the disk leaves its runtime free. Every operation returns a Result (ENOENT,
// EISDIR ... are values, never exceptions) and works with dally::timeout(); awaiting one
// where no runtime runs throws NoRuntimeError. list_dir() is the exception: io_uring has no
// getdents, so it runs on the blocking pool (blocking.hpp) and is not subject to timeout().
//
//     auto f = co_await dally::File::open("notes.txt");
//     if (!f) co_return f.error();                          // e.g. no_such_file_or_directory
//     auto text = co_await f->read_all();                   // Result<std::string>
//     co_await dally::fs::write_file("copy.txt", *text);
//
// Paths are copied into the awaitable, so a temporary string is fine. Data buffers are
// borrowed until the co_await completes (as in net.hpp). A File is used from one task at
// a time; streaming read()/write() move the file position, so keep one of them in flight.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dally/detail/io.hpp"
#include "dally/result.hpp"
#include "dally/task.hpp"
#include "dally/time.hpp"

namespace dally {

struct OpenOptions {
    // Open for reading.
    bool read = true;
    // Open for writing (create, truncate and append need it or `append`).
    bool write = false;
    // Create the file if it does not exist.
    bool create = false;
    // Cut an existing file to zero length.
    bool truncate = false;
    // Every write goes to the end of the file, whatever the offset (O_APPEND).
    bool append = false;
    // With `create`: fail with EEXIST if the path exists (O_EXCL).
    bool exclusive = false;
    // Permissions of a created file, before the process umask.
    std::uint32_t mode = 0644;
};

enum class FileType : std::uint8_t { unknown, regular, directory, symlink, other };

// What stat() reports about a file (a small subset of statx).
struct FileStat {
    std::uint64_t size = 0;  // bytes
    std::uint32_t mode = 0;  // permission bits (07777)
    FileType type = FileType::unknown;
    std::chrono::system_clock::time_point mtime;  // last modification
    bool is_dir() const noexcept { return type == FileType::directory; }
    bool is_regular() const noexcept { return type == FileType::regular; }
};

class File;

namespace detail {
// Space for a struct statx (256 bytes) without exposing <linux/stat.h>.
struct StatxBuffer {
    alignas(8) std::byte bytes[256];
};
FileStat to_file_stat(const StatxBuffer& b) noexcept;
}  // namespace detail

// File::open: openat through the ring; Result<File> on completion.
struct OpenAwaitable : detail::OpAwaitable {
    OpenAwaitable(std::string path, int flags, std::uint32_t mode, int invalid);
    OpenAwaitable(OpenAwaitable&& o) noexcept;
    ~OpenAwaitable();
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        if (m_invalid != 0) {
            op.res = -m_invalid;
            return false;
        }
        op.buf = m_path.data();
        const bool suspended = detail::OpAwaitable::await_suspend(h);  // may throw
        m_submitted = true;
        return suspended;
    }
    Result<File> await_resume();

  private:
    std::string m_path;
    int m_invalid = 0;         // errno reported without submitting (bad options, NUL in path)
    bool m_submitted = false;  // an fd in op.res is ours until await_resume takes it
};

// An operation on one or two paths (rename, unlink, mkdir); the awaitable owns the strings.
struct PathAwaitable : detail::OpAwaitable {
    PathAwaitable(std::string path, std::string path2 = {});
    PathAwaitable(PathAwaitable&& o) noexcept;
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        if (!point_at_paths()) return false;
        return detail::OpAwaitable::await_suspend(h);
    }
    Result<void> await_resume() const noexcept { return detail::void_result(op); }

  private:
    bool point_at_paths() noexcept;  // false (op.res = -EINVAL) if a path holds a NUL
    std::string m_path;
    std::string m_path2;
};

// stat(): statx through the ring into a buffer inside the awaitable.
struct StatAwaitable : detail::OpAwaitable {
    StatAwaitable(int dirfd, std::string path, std::uint32_t at_flags);
    StatAwaitable(StatAwaitable&& o) noexcept;
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        if (!point_at_buffers()) return false;
        return detail::OpAwaitable::await_suspend(h);
    }
    Result<FileStat> await_resume() const noexcept;

  private:
    bool point_at_buffers() noexcept;
    std::string m_path;
    detail::StatxBuffer m_buf{};
};

// write_all: see detail::TransferAllAwaitable (no allocation; timeout() covers it all).
using WriteAllAwaitable = detail::TransferAllAwaitable;

// An open file (or any descriptor: a pipe, stdout). Owns its descriptor; move-only.
// Dropping it closes the descriptor synchronously; co_await close() closes it on the ring.
class File {
  public:
    File() noexcept = default;
    explicit File(int fd) noexcept : m_fd(fd) {}
    File(File&& o) noexcept : m_fd(std::exchange(o.m_fd, -1)) {}
    File& operator=(File&& o) noexcept;
    ~File();

    // Opens `path` (relative paths: to the working directory). EINVAL without submitting
    // if no access is asked for, if create/truncate come without write/append, or if the
    // path holds a NUL byte.
    static OpenAwaitable open(std::string path, OpenOptions options = {});
    // Opens for writing, creating or truncating: {.read = false, .write = true,
    // .create = true, .truncate = true}.
    static OpenAwaitable create(std::string path, std::uint32_t mode = 0644);

    bool is_open() const noexcept { return m_fd >= 0; }
    int fd() const noexcept { return m_fd; }
    // Gives up ownership of the descriptor.
    int release() noexcept { return std::exchange(m_fd, -1); }

    // Reads up to buf.size() bytes at `offset` (the file position does not move). Fewer
    // bytes at end of file; 0 at or past it. One operation moves at most 1 GiB.
    SizeAwaitable read_at(std::span<std::byte> buf, std::uint64_t offset) noexcept;
    SizeAwaitable read_at(std::span<char> buf, std::uint64_t offset) noexcept {
        return read_at(std::as_writable_bytes(buf), offset);
    }
    // Writes up to data.size() bytes at `offset` (O_APPEND files: at the end); may write
    // fewer. `data` is borrowed until the co_await completes.
    SizeAwaitable write_at(std::span<const std::byte> data, std::uint64_t offset) noexcept;
    SizeAwaitable write_at(std::span<const char> data, std::uint64_t offset) noexcept {
        return write_at(std::as_bytes(data), offset);
    }
    // Reads at the file position and advances it; 0 means end of file. Works on pipes too.
    // Keep one streaming operation in flight per file: two would race for the position.
    SizeAwaitable read(std::span<std::byte> buf) noexcept;
    SizeAwaitable read(std::span<char> buf) noexcept { return read(std::as_writable_bytes(buf)); }
    // Writes at the file position (or the end, with append) and advances it; may write fewer.
    SizeAwaitable write(std::span<const std::byte> data) noexcept;
    SizeAwaitable write(std::span<const char> data) noexcept { return write(std::as_bytes(data)); }
    // Writes all of `data` at the file position; on error, partial() says how much went.
    WriteAllAwaitable write_all(std::span<const std::byte> data) noexcept {
        return {detail::OpCode::write, "dally::File::write_all", m_fd, data, detail::current_position,
                std::errc::io_error};
    }
    WriteAllAwaitable write_all(std::span<const char> data) noexcept { return write_all(std::as_bytes(data)); }
    // Writes all of `data` starting at `offset`; the file position does not move.
    WriteAllAwaitable write_all_at(std::span<const std::byte> data, std::uint64_t offset) noexcept;
    // Reads from the file position to end of file (the position ends there). The File must
    // outlive the returned task. On error, the error (bytes read so far are dropped).
    Task<Result<std::string>> read_all();

    // Flushes data and metadata to the device (fsync).
    VoidAwaitable fsync() noexcept;
    // Flushes data, and only the metadata needed to read it back (fdatasync).
    VoidAwaitable datasync() noexcept;
    // Size, type, permissions and mtime of the open file.
    StatAwaitable stat() const;
    // Closes through the ring; the file is closed (is_open() false) from this call on.
    VoidAwaitable close() noexcept;

  private:
    int m_fd = -1;
};

namespace fs {

// Size, type, permissions and mtime of `path` (symlinks followed).
StatAwaitable stat(std::string path);
// Renames `from` to `to`, replacing `to` if it exists (same filesystem only: EXDEV otherwise).
PathAwaitable rename(std::string from, std::string to);
// Removes a file (not a directory: EISDIR).
PathAwaitable unlink(std::string path);
// Removes an empty directory (ENOTEMPTY otherwise).
PathAwaitable rmdir(std::string path);
// Creates a directory (EEXIST if the path exists; parents are not created).
PathAwaitable mkdir(std::string path, std::uint32_t mode = 0755);

// The whole content of the file at `path`.
Task<Result<std::string>> read_file(std::string path);
// Creates or truncates `path` and writes `data` (copied into the task, so it may be a
// temporary). Not atomic: write to a temp name and rename() for that.
Task<Result<void>> write_file(std::string path, std::string data);

struct DirEntry {
    std::string name;                   // no directory part
    FileType type = FileType::unknown;  // of the entry itself (a symlink is not followed)
};
// `co_await fs::list_dir(path)`: the entries of directory `path`, without "." and "..", in
// the directory's own (unsorted) order. io_uring has no getdents operation, so the listing
// runs on the blocking pool (spawn_blocking) and the task resumes on its own runtime with
// the result; the runtime keeps running other tasks meanwhile. Like any pool work it is
// not cancellable once it runs.
Task<Result<std::vector<DirEntry>>> list_dir(std::string path);
// The same on the calling thread, for threads that are not runtimes (on a runtime it
// stalls every task there for as long as the directory takes to read).
Result<std::vector<DirEntry>> list_dir_blocking(const std::string& path);

}  // namespace fs
}  // namespace dally
