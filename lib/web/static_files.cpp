#include "web/static_files.hpp"

#include "dally/blocking.hpp"
#include "dally/fs.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <system_error>

#include <fmt/format.h>

namespace dally::web::detail {

namespace {

struct Opened {
    int fd = -1;
    int error = 0;
    struct stat st {};
};

// Opens `rel` beneath `root`: no "..", no absolute symlinks, nothing outside the root.
Opened open_beneath(int root, const std::string& rel) {
    Opened out;
    open_how how{};
    how.flags = O_RDONLY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long fd = ::syscall(SYS_openat2, root, rel.empty() ? "." : rel.c_str(), &how, sizeof how);
    if (fd < 0) {
        out.error = errno;
        return out;
    }
    out.fd = static_cast<int>(fd);
    if (::fstat(out.fd, &out.st) != 0) {
        out.error = errno;
        ::close(out.fd);
        out.fd = -1;
    }
    return out;
}

// Rejects what is never a file name below the root, before touching the filesystem.
bool plausible(std::string_view rel) noexcept {
    if (rel.find('\0') != std::string_view::npos) return false;
    std::string_view rest = rel;
    while (true) {
        std::size_t slash = rest.find('/');
        std::string_view seg = rest.substr(0, slash);
        if (seg == "..") return false;
        if (slash == std::string_view::npos) return true;
        rest.remove_prefix(slash + 1);
    }
}

std::string etag_for(const struct stat& st) {
    auto ns = static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1000000000ULL +
              static_cast<unsigned long long>(st.st_mtim.tv_nsec);
    return fmt::format("\"{:x}-{:x}-{:x}\"", static_cast<unsigned long long>(st.st_ino),
                       static_cast<unsigned long long>(st.st_size), ns);
}

bool etag_matches(std::string_view header, std::string_view etag) noexcept {
    if (header == "*") return true;
    while (!header.empty()) {
        std::size_t comma = header.find(',');
        std::string_view item = trim_ows(header.substr(0, comma));
        if (item.starts_with("W/")) item.remove_prefix(2);
        if (item == etag) return true;
        if (comma == std::string_view::npos) break;
        header.remove_prefix(comma + 1);
    }
    return false;
}

}  // namespace

StaticFiles::StaticFiles(std::filesystem::path root, StaticOptions options) : m_options(std::move(options)) {
    m_root = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (m_root < 0) {
        throw std::system_error(errno, std::system_category(),
                                "dally::web::Router::static_files: cannot open " + root.string());
    }
}

StaticFiles::~StaticFiles() {
    if (m_root >= 0) ::close(m_root);
}

Task<Response> StaticFiles::serve(Request& request) const {
    std::string rel(request.param("path"));
    if (!plausible(rel)) co_return Response::text(404, "not found\n");
    if (rel.empty() || rel.back() == '/') {
        if (m_options.index.empty()) co_return Response::text(404, "not found\n");
        rel += m_options.index;
    }

    // A named job: GCC 12 mishandles a capturing lambda temporary inside co_await (its
    // captured string was freed from the wrong place).
    auto job = [root = m_root, rel] { return open_beneath(root, rel); };
    Opened file = co_await spawn_blocking(std::move(job));
    if (file.fd < 0) co_return Response::text(404, "not found\n");
    auto owned = std::make_shared<File>(file.fd);
    if (S_ISDIR(file.st.st_mode)) {
        // A directory without the trailing slash: send the browser to the slash form so
        // relative links in its index resolve.
        Response r = Response::text(301, "moved\n");
        r.header("Location", request.path + "/");
        co_return r;
    }
    if (!S_ISREG(file.st.st_mode)) co_return Response::text(404, "not found\n");

    std::string etag = etag_for(file.st);
    std::string cache = m_options.max_age.count() > 0 ? fmt::format("public, max-age={}", m_options.max_age.count())
                                                      : std::string("no-cache");
    if (auto inm = request.header("If-None-Match"); inm && etag_matches(*inm, etag)) {
        Response r(304);
        r.header("ETag", etag).header("Cache-Control", cache);
        co_return r;
    }

    auto size = static_cast<std::uint64_t>(file.st.st_size);
    std::string_view type = content_type_for(rel);
    if (size <= m_options.buffer_limit) {
        // Read for HEAD too: the server sends the Content-Length of the body it drops.
        std::string body(size, '\0');
        std::uint64_t done = 0;
        while (done < size) {
            auto n = co_await owned->read_at(std::span<char>(body.data() + done, size - done), done);
            if (!n) co_return Response::text(500, "read error\n");
            if (*n == 0) break;  // the file shrank under us
            done += *n;
        }
        body.resize(done);
        Response r = Response::text(200, std::move(body), type);
        r.header("ETag", etag).header("Cache-Control", cache);
        co_return r;
    }

    // Large file: stream it in chunks so memory stays bounded.
    Response r = Response::stream(type, [owned, size](BodyWriter& out) -> Task<void> {
        std::string chunk(256u << 10, '\0');
        std::uint64_t offset = 0;
        while (offset < size) {
            auto n = co_await owned->read_at(std::span<char>(chunk.data(), chunk.size()), offset);
            if (!n || *n == 0) co_return;
            offset += *n;
            if (!co_await out.write(std::string_view(chunk.data(), *n))) co_return;
        }
    });
    r.headers().set("Cache-Control", cache);
    r.header("ETag", etag);
    co_return r;
}

}  // namespace dally::web::detail
