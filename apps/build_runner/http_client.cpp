#include "http_client.hpp"

#include <fmt/format.h>
#include <llhttp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <exception>
#include <memory>
#include <system_error>
#include <utility>

namespace br::http {

namespace {

using Clock = std::chrono::steady_clock;
using dally::web::Headers;

std::string seconds_text(std::chrono::milliseconds d) {
    if (d.count() % 1000 == 0) return fmt::format("{} s", d.count() / 1000);
    return fmt::format("{:.1f} s", static_cast<double>(d.count()) / 1000.0);
}

// "connection refused": strerror's text, lowercased to sit inside a sentence.
std::string errno_text(int e) {
    std::string text = std::generic_category().message(e);
    if (!text.empty())
        text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
    return text;
}

// Owns a socket; closes it on every exit path, exceptions included.
class Socket {
  public:
    explicit Socket(int fd) noexcept : m_fd(fd) {}
    ~Socket() {
        if (m_fd >= 0) ::close(m_fd);
    }
    Socket(Socket&& o) noexcept : m_fd(std::exchange(o.m_fd, -1)) {}
    Socket& operator=(Socket&& o) noexcept {
        std::swap(m_fd, o.m_fd);
        return *this;
    }
    int fd() const noexcept { return m_fd; }

  private:
    int m_fd = -1;
};

// poll() for one event; false on timeout. A zero timeout means no limit.
bool wait_for(int fd, short events, std::chrono::milliseconds timeout) {
    pollfd p{fd, events, 0};
    int ms = timeout.count() > 0
                 ? static_cast<int>(std::min<std::int64_t>(timeout.count(), INT_MAX))
                 : -1;
    for (;;) {
        int n = ::poll(&p, 1, ms);
        if (n > 0) return true;
        if (n == 0) return false;
        if (errno != EINTR) return true;  // let the following syscall report the error
    }
}

std::string unreachable_text(const Url& url, std::string_view why) {
    return fmt::format("cannot reach build_runner at {}: {} — is `build_runner serve` running?",
                       url.origin(), why);
}

// Connects to the first address of `url.host` that answers. Every attempt is non-blocking
// with poll(), so one deadline covers all addresses; the socket stays non-blocking.
Socket connect_to(const Url& url, const Options& opt) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* list = nullptr;
    std::string port = std::to_string(url.port);
    if (int rc = ::getaddrinfo(url.host.c_str(), port.c_str(), &hints, &list); rc != 0) {
        throw HttpError(ErrorKind::unreachable,
                        unreachable_text(url, fmt::format("cannot resolve {}: {}", url.host,
                                                          ::gai_strerror(rc))));
    }
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(list, ::freeaddrinfo);

    const auto deadline = Clock::now() + opt.connect_timeout;
    int last_error = ECONNREFUSED;
    bool timed_out = false;
    for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
        Socket s(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                          ai->ai_protocol));
        if (s.fd() < 0) {
            last_error = errno;
            continue;
        }
        if (::connect(s.fd(), ai->ai_addr, ai->ai_addrlen) != 0) {
            if (errno != EINPROGRESS) {
                last_error = errno;
                continue;
            }
            std::chrono::milliseconds left{0};  // zero: as long as the kernel tries
            if (opt.connect_timeout.count() > 0) {
                left =
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
                left = std::max(left, std::chrono::milliseconds(1));
            }
            if (!wait_for(s.fd(), POLLOUT, left)) {
                timed_out = true;
                break;
            }
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(s.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) {
                last_error = err;
                continue;
            }
        }
        int one = 1;
        ::setsockopt(s.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        // A followed log may be silent for minutes: keep-alive probes notice a vanished peer.
        ::setsockopt(s.fd(), SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        int idle = 30, interval = 10, count = 3;
        ::setsockopt(s.fd(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
        ::setsockopt(s.fd(), IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
        ::setsockopt(s.fd(), IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
        return s;
    }
    if (timed_out) {
        throw HttpError(ErrorKind::timeout,
                        fmt::format("cannot reach build_runner at {}: no connection within {}",
                                    url.origin(), seconds_text(opt.connect_timeout)));
    }
    throw HttpError(ErrorKind::unreachable, unreachable_text(url, errno_text(last_error)));
}

// The response parser's state: llhttp in HTTP_RESPONSE mode, filling a Response.
struct Parser {
    llhttp_t parser{};
    llhttp_settings_t settings{};
    const Options& opt;
    Response& resp;
    const BodyCallback* on_body = nullptr;  // streaming: 2xx bodies go here
    const HeadCallback* on_head = nullptr;
    bool head_only = false;  // a HEAD request: no body whatever the headers say
    std::size_t head_bytes = 0;
    dally::web::Header* current = nullptr;
    bool field_open = false;
    bool complete = false;
    bool stopped = false;  // on_body returned false
    ErrorKind fail_kind = ErrorKind::malformed;
    std::string fail_message;      // set by a callback that refused (a limit)
    std::exception_ptr exception;  // thrown by a callback (the caller's on_body included)

    Parser(const Options& o, Response& r) : opt(o), resp(r) {
        llhttp_settings_init(&settings);
        settings.on_header_field = [](llhttp_t* p, const char* at, std::size_t n) {
            return guarded(p, [&](Parser& s) { return s.on_field(at, n); });
        };
        settings.on_header_field_complete = [](llhttp_t* p) {
            self(p).field_open = false;
            return 0;
        };
        settings.on_header_value = [](llhttp_t* p, const char* at, std::size_t n) {
            return guarded(p, [&](Parser& s) { return s.on_value(at, n); });
        };
        settings.on_status = [](llhttp_t* p, const char*, std::size_t n) {
            return guarded(p, [&](Parser& s) { return s.count_head(n); });
        };
        settings.on_headers_complete = [](llhttp_t* p) {
            return guarded(p, [](Parser& s) { return s.on_headers_complete(); });
        };
        settings.on_body = [](llhttp_t* p, const char* at, std::size_t n) {
            return guarded(p, [&](Parser& s) { return s.on_body_bytes(at, n); });
        };
        settings.on_message_complete = [](llhttp_t* p) { return self(p).on_complete(); };
        llhttp_init(&parser, HTTP_RESPONSE, &settings);
        parser.data = this;
    }
    Parser(const Parser&) = delete;
    Parser& operator=(const Parser&) = delete;

    static Parser& self(llhttp_t* p) noexcept { return *static_cast<Parser*>(p->data); }
    // Exceptions must not unwind through llhttp's C frames: park them and stop the parser.
    template <class F>
    static int guarded(llhttp_t* p, F&& f) noexcept {
        Parser& s = self(p);
        try {
            return f(s);
        } catch (...) {
            s.exception = std::current_exception();
            return HPE_USER;
        }
    }

    int refuse(ErrorKind kind, std::string message) {
        fail_kind = kind;
        fail_message = std::move(message);
        return HPE_USER;
    }
    int count_head(std::size_t n) {
        head_bytes += n;
        if (head_bytes > opt.max_head_bytes) {
            return refuse(ErrorKind::too_large,
                          fmt::format("response head over {} bytes", opt.max_head_bytes));
        }
        return HPE_OK;
    }
    int on_field(const char* at, std::size_t n) {
        if (int rc = count_head(n); rc != HPE_OK) return rc;
        if (!field_open) {
            current = &resp.headers.add({}, {});
            field_open = true;
        }
        current->name.append(at, n);
        return HPE_OK;
    }
    int on_value(const char* at, std::size_t n) {
        if (int rc = count_head(n); rc != HPE_OK) return rc;
        if (current != nullptr) current->value.append(at, n);
        return HPE_OK;
    }
    int on_headers_complete() {
        resp.status = parser.status_code;
        if (on_head != nullptr && *on_head && resp.ok() && !(*on_head)(resp)) {
            stopped = true;
            return HPE_PAUSED;  // this callback's error values are reserved; pausing stops too
        }
        // 1 tells llhttp that this response has no body (RFC 9110 9.3.2).
        return head_only ? 1 : HPE_OK;
    }
    int on_body_bytes(const char* at, std::size_t n) {
        if (on_body != nullptr && resp.ok()) {
            if (!(*on_body)(std::string_view(at, n))) {
                stopped = true;
                return HPE_USER;
            }
            return HPE_OK;
        }
        if (resp.body.size() + n > opt.max_body_bytes) {
            return refuse(ErrorKind::too_large,
                          fmt::format("response body over {} bytes", opt.max_body_bytes));
        }
        resp.body.append(at, n);
        return HPE_OK;
    }
    int on_complete() {
        // An interim 1xx answer (100 Continue) is followed by the real one: start over.
        if (resp.status >= 100 && resp.status < 200) {
            resp.headers.clear();
            resp.body.clear();
            head_bytes = 0;
            return HPE_OK;
        }
        complete = true;
        return HPE_PAUSED;  // bytes after the response are none of our business
    }
};

void send_all(int fd, std::string_view data, const Url& url, const Options& opt) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n > 0) {
            data.remove_prefix(static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!wait_for(fd, POLLOUT, opt.read_timeout)) {
                throw HttpError(ErrorKind::timeout,
                                fmt::format("build_runner at {} did not take the request within {}",
                                            url.origin(), seconds_text(opt.read_timeout)));
            }
            continue;
        }
        // The server may have answered early (413) and closed: its answer is still readable.
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) return;
        throw HttpError(ErrorKind::io,
                        fmt::format("sending to {} failed: {}", url.origin(), errno_text(errno)));
    }
}

std::string build_request(std::string_view method, const Url& url, const Headers& headers,
                          std::string_view body) {
    std::string out = fmt::format(
        "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: build_runner-cli\r\nConnection: close\r\n",
        method, url.target, url.origin().substr(7));
    bool has_length = false;
    for (const auto& h : headers) {
        // A line break in a header (a token read from a file, say) would forge headers.
        if ((h.name + h.value).find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
            throw std::invalid_argument(
                fmt::format("header {}: line breaks and NULs are not allowed", h.name));
        }
        if (dally::web::iequals(h.name, "Content-Length")) has_length = true;
        fmt::format_to(std::back_inserter(out), "{}: {}\r\n", h.name, h.value);
    }
    bool wants_length = !body.empty() || method == "POST" || method == "PUT" || method == "PATCH";
    if (wants_length && !has_length)
        fmt::format_to(std::back_inserter(out), "Content-Length: {}\r\n", body.size());
    out += "\r\n";
    out += body;
    return out;
}

Response exchange(std::string_view method, std::string_view url_text, const Headers& headers,
                  std::string_view body, const BodyCallback* on_body, const HeadCallback* on_head,
                  const Options& opt) {
    Url url = parse_url(url_text);
    std::string request_bytes = build_request(method, url, headers, body);  // checks headers first
    Socket sock = connect_to(url, opt);
    send_all(sock.fd(), request_bytes, url, opt);

    Response resp;
    Parser p(opt, resp);
    p.on_body = on_body;
    p.on_head = on_head;
    p.head_only = method == "HEAD";
    bool received = false;
    char buf[16384];
    for (;;) {
        ssize_t n = ::recv(sock.fd(), buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!wait_for(sock.fd(), POLLIN, opt.read_timeout)) {
                throw HttpError(
                    ErrorKind::timeout,
                    fmt::format("build_runner at {} sent nothing for {} ({} {}{})", url.origin(),
                                seconds_text(opt.read_timeout), method, url.target,
                                received ? ", response unfinished" : ", no response"));
            }
            continue;
        }
        if (n < 0) {
            if (errno == ECONNRESET && !received) {
                throw HttpError(ErrorKind::closed,
                                fmt::format("build_runner at {} reset the connection without "
                                            "answering",
                                            url.origin()));
            }
            throw HttpError(ErrorKind::io, fmt::format("reading from {} failed: {}", url.origin(),
                                                       errno_text(errno)));
        }
        if (n == 0) {
            if (!received) {
                throw HttpError(
                    ErrorKind::closed,
                    fmt::format("build_runner at {} closed the connection without answering",
                                url.origin()));
            }
            // A response without a length ends at EOF: llhttp_finish() completes exactly that case.
            (void)llhttp_finish(&p.parser);
            if (p.exception) std::rethrow_exception(p.exception);
            if (p.complete) return resp;
            throw HttpError(
                ErrorKind::closed,
                fmt::format("build_runner at {} closed the connection before the response ended",
                            url.origin()));
        }
        received = true;
        llhttp_errno_t err = llhttp_execute(&p.parser, buf, static_cast<std::size_t>(n));
        if (p.exception) std::rethrow_exception(p.exception);
        if (p.stopped) return resp;
        if (err == HPE_OK) continue;
        if (err == HPE_PAUSED && p.complete) return resp;
        if (err == HPE_USER)
            throw HttpError(p.fail_kind,
                            fmt::format("response from {}: {}", url.origin(), p.fail_message));
        const char* reason = llhttp_get_error_reason(&p.parser);
        throw HttpError(
            ErrorKind::malformed,
            fmt::format("malformed response from {}: {} (is it build_runner?)", url.origin(),
                        reason != nullptr ? reason : llhttp_errno_name(err)));
    }
}

}  // namespace

std::string Url::origin() const {
    if (host.find(':') != std::string::npos) return fmt::format("http://[{}]:{}", host, port);
    return fmt::format("http://{}:{}", host, port);
}

Url parse_url(std::string_view text) {
    auto bad = [&](std::string_view why) {
        return HttpError(ErrorKind::bad_url, fmt::format("bad URL '{}': {}", text, why));
    };
    auto starts_with_ci = [&](std::string_view prefix) {
        return text.size() >= prefix.size() &&
               dally::web::iequals(text.substr(0, prefix.size()), prefix);
    };
    if (starts_with_ci("https://")) {
        throw bad(
            "https:// is not supported — the client speaks plain HTTP only (build_runner serves on "
            "loopback "
            "by default); use http://host:port");
    }
    if (!starts_with_ci("http://")) throw bad("expected http://host[:port][/path]");
    std::string_view rest = text.substr(7);
    if (std::size_t hash = rest.find('#'); hash != std::string_view::npos)
        rest = rest.substr(0, hash);
    std::size_t end = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, end);
    std::string_view target = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    if (authority.find('@') != std::string_view::npos)
        throw bad("credentials in the URL are not supported (use --token)");

    Url url;
    std::string_view port_text;
    if (!authority.empty() && authority.front() == '[') {
        std::size_t close = authority.find(']');
        if (close == std::string_view::npos) throw bad("unterminated [IPv6] host");
        url.host.assign(authority.substr(1, close - 1));
        std::string_view after = authority.substr(close + 1);
        if (!after.empty() && after.front() != ':') throw bad("expected ':' after the [IPv6] host");
        if (!after.empty()) port_text = after.substr(1);
    } else {
        std::size_t colon = authority.find(':');
        url.host.assign(authority.substr(0, colon));
        if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
    }
    if (url.host.empty()) throw bad("no host");
    for (char c : text) {
        if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
            throw bad("spaces and control characters must be percent-encoded");
    }
    if (!port_text.empty() || authority.ends_with(':')) {
        unsigned long port = 0;
        for (char c : port_text) {
            if (c < '0' || c > '9' || port > 65535)
                throw bad("the port must be a number from 1 to 65535");
            port = port * 10 + static_cast<unsigned long>(c - '0');
        }
        if (port == 0 || port > 65535) throw bad("the port must be a number from 1 to 65535");
        url.port = static_cast<std::uint16_t>(port);
    }
    if (target.empty()) {
        url.target = "/";
    } else if (target.front() == '?') {
        url.target = "/" + std::string(target);
    } else {
        url.target.assign(target);
    }
    return url;
}

std::string url_encode(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
        if (unreserved) {
            out += static_cast<char>(c);
        } else {
            fmt::format_to(std::back_inserter(out), "%{:02X}", c);
        }
    }
    return out;
}

Response request(std::string_view method, std::string_view url, const Headers& headers,
                 std::string_view body, const Options& options) {
    return exchange(method, url, headers, body, nullptr, nullptr, options);
}

Response stream(std::string_view method, std::string_view url, const Headers& headers,
                std::string_view body, const BodyCallback& on_body, const Options& options,
                const HeadCallback& on_head) {
    return exchange(method, url, headers, body, &on_body, &on_head, options);
}

bool EventParser::feed(std::string_view bytes, const Handler& handler) {
    // A line longer than this is not an event a build_runner server sends (log replays are
    // at most 256 KiB): refuse rather than grow without bound.
    constexpr std::size_t max_line = 16u << 20;
    while (!bytes.empty()) {
        if (m_after_cr) {
            m_after_cr = false;
            if (bytes.front() == '\n') {
                bytes.remove_prefix(1);
                continue;
            }
        }
        std::size_t eol = bytes.find_first_of("\r\n");
        if (eol == std::string_view::npos) {
            if (m_line.size() + bytes.size() > max_line) {
                throw HttpError(ErrorKind::too_large, "event stream line over 16 MiB");
            }
            m_line.append(bytes);
            return true;
        }
        m_line.append(bytes.substr(0, eol));
        m_after_cr = bytes[eol] == '\r';
        bytes.remove_prefix(eol + 1);
        std::string text = std::exchange(m_line, {});
        if (!line(text, handler)) return false;
    }
    return true;
}

bool EventParser::line(std::string_view text, const Handler& handler) {
    if (!m_started) {
        m_started = true;
        if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
    }
    if (text.empty()) {
        bool keep_going = true;
        if (m_has_data) keep_going = handler(m_event);
        // The last event id persists across events, as EventSource keeps it.
        m_event = Event{.event = "message", .data = {}, .id = std::move(m_event.id)};
        m_has_data = false;
        return keep_going;
    }
    if (text.front() == ':') return true;  // a comment (keep-alive)
    std::size_t colon = text.find(':');
    std::string_view field = text.substr(0, colon);
    std::string_view value =
        colon == std::string_view::npos ? std::string_view{} : text.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (field == "data") {
        if (m_has_data) m_event.data += '\n';
        m_event.data.append(value);
        m_has_data = true;
    } else if (field == "event") {
        m_event.event = value.empty() ? "message" : std::string(value);
    } else if (field == "id") {
        if (value.find('\0') == std::string_view::npos) m_event.id.assign(value);
    }
    // "retry" and unknown fields: nothing for a client that does not reconnect by itself.
    return true;
}

Response read_events(std::string_view url, const Headers& headers,
                     const EventParser::Handler& on_event, const Options& options,
                     const HeadCallback& on_head) {
    Headers h = headers;
    h.add("Accept", "text/event-stream");
    h.add("Cache-Control", "no-cache");
    EventParser parser;
    return stream(
        "GET", url, h, {}, [&](std::string_view bytes) { return parser.feed(bytes, on_event); },
        options, on_head);
}

}  // namespace br::http
