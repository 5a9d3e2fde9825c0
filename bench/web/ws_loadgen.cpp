// ws_loadgen: an epoll WebSocket echo load generator for bench/web/ws_bench.sh, single-threaded
// unless --threads N asks for N workers (each its own epoll instance and 1/N of the
// connections; for machines with more than one CPU to spare for load). It is plain C++ on
// Linux syscalls (no dally, no Boost), so it is an independent client for both servers.
//
// It opens C connections and performs the RFC 6455 opening handshake on each (checking the
// 101 status and Sec-WebSocket-Accept). Then every connection plays ping-pong: send one masked
// binary (or --text) message of S bytes, wait until the whole echo has arrived, check it,
// repeat. After a warm-up it counts the echoes that complete within a window of --seconds and
// prints one line:
//
//   msgs_per_s=<echoed messages/s> p50_us=<..> p99_us=<..> conns=C size=S msgs=<..>
//       errors=<..> window_s=<..> loadgen_cpu_s=<..> system_cpu_s=<..>
//       [server_cpu_s=<..> msgs_per_cpu_s=<..>]
//
// Every echo is checked: opcode (binary/text as sent), length, and the full payload, which
// starts with the connection's 16-hex-digit sequence number followed by the connection index
// and a per-connection filler, so a stale, reordered, truncated or cross-connection echo is
// caught. A mismatch counts in errors= (the first few are described on stderr); the run goes
// on because the framing is still intact. Protocol violations (a masked server frame, a close
// frame, an unexpected message, a reserved opcode) and a server that closes or resets a
// connection end the run with status 1. Status is also 1 when errors > 0 or no echo completed.
// Fragmented echoes are reassembled; pings from the server are answered with pongs.
//
// server_cpu_s (utime+stime of --cpu-pid from /proc, in clock ticks) and msgs_per_cpu_s appear
// with --cpu-pid. system_cpu_s is the busy time of all CPUs in the window: well above
// loadgen + server means other work shared the CPUs.
//
//   ws_loadgen --port N [--connections C] [--size S] [--seconds T] [--warmup W]
//              [--text] [--path /] [--host 127.0.0.1] [--cpu-pid PID] [--threads N]
//
// Defaults: 100 connections, 512 bytes, 5 s, 1 s warm-up, binary frames, 1 thread. The
// connections are opened and handshaken before the clock starts. Only loopback hosts
// (127.0.0.0/8, ::1) are accepted.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string host = "127.0.0.1";
    std::string path = "/";
    int port = 0;
    int conns = 100;
    int size = 512;
    double seconds = 5;  // measurement window
    double warmup = 1;   // before the window; its echoes are not counted
    bool text = false;   // text frames (the payload is ASCII either way)
    int threads = 1;     // worker threads, each with its own epoll and share of connections
    int cpu_pid = 0;     // server whose CPU time is read at the window's edges; 0: none
};

// Any thread may call it: the process ends without running destructors under other threads.
[[noreturn]] void fail(const std::string& msg) {
    std::fprintf(stderr, "ws_loadgen: %s\n", msg.c_str());
    std::fflush(stdout);
    std::_Exit(1);
}

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "ws_loadgen: %s\nusage: ws_loadgen --port N [--connections C] [--size S] "
                 "[--seconds T] [--warmup W] [--text] [--path /] [--host 127.0.0.1] "
                 "[--cpu-pid PID] [--threads N]\n",
                 why);
    std::exit(2);
}

Options parse_options(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--text") {
            o.text = true;
            continue;
        }
        if (arg == "-h" || arg == "--help") usage("help");
        if (i + 1 >= argc) usage("missing value");
        const char* val = argv[++i];
        if (arg == "--host") {
            o.host = val;
            continue;
        }
        if (arg == "--path") {
            o.path = val;
            if (o.path.empty() || o.path[0] != '/' ||
                o.path.find_first_of(" \r\n") != std::string::npos) {
                usage("--path must start with / and contain no spaces");
            }
            continue;
        }
        char* end = nullptr;
        double num = std::strtod(val, &end);
        if (end == val || *end != '\0') usage("not a number");
        if (arg == "--port")
            o.port = static_cast<int>(num);
        else if (arg == "--connections" || arg == "--conns")
            o.conns = static_cast<int>(num);
        else if (arg == "--size")
            o.size = static_cast<int>(num);
        else if (arg == "--seconds")
            o.seconds = num;
        else if (arg == "--warmup")
            o.warmup = num;
        else if (arg == "--cpu-pid")
            o.cpu_pid = static_cast<int>(num);
        else if (arg == "--threads")
            o.threads = static_cast<int>(num);
        else
            usage("unknown option");
    }
    if (o.port <= 0 || o.port > 65535) usage("--port must be 1..65535");
    if (o.conns < 1 || o.conns > 10000) usage("--connections must be 1..10000");
    if (o.size < 1 || o.size > (1 << 24)) usage("--size must be 1..16777216");
    if (!(o.seconds > 0 && o.seconds <= 3600)) usage("--seconds must be in (0, 3600]");
    if (!(o.warmup >= 0 && o.warmup <= 3600)) usage("--warmup must be in [0, 3600]");
    if (o.threads < 1 || o.threads > 256) usage("--threads must be 1..256");
    o.threads = std::min(o.threads, o.conns);
    return o;
}

// ---- SHA-1 and base64, for the handshake's Sec-WebSocket-Accept ------------------------------

std::array<std::uint8_t, 20> sha1(std::string_view data) {
    std::uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    std::string msg(data);
    const std::uint64_t bit_len = static_cast<std::uint64_t>(data.size()) * 8;
    msg.push_back(static_cast<char>(0x80));
    while (msg.size() % 64 != 56) msg.push_back('\0');
    for (int i = 7; i >= 0; --i) msg.push_back(static_cast<char>((bit_len >> (i * 8)) & 0xff));
    for (std::size_t block = 0; block < msg.size(); block += 64) {
        std::uint32_t w[80];
        for (int t = 0; t < 16; ++t) {
            auto b = [&](int k) {
                return static_cast<std::uint32_t>(
                    static_cast<unsigned char>(msg[block + static_cast<std::size_t>(t * 4 + k)]));
            };
            w[t] = (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
        }
        for (int t = 16; t < 80; ++t) w[t] = std::rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
        std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int t = 0; t < 80; ++t) {
            std::uint32_t f = 0;
            std::uint32_t k = 0;
            if (t < 20) {
                f = (b & c) | (~b & d);
                k = 0x5A827999;
            } else if (t < 40) {
                f = b ^ c ^ d;
                k = 0x6ED9EBA1;
            } else if (t < 60) {
                f = (b & c) | (b & d) | (c & d);
                k = 0x8F1BBCDC;
            } else {
                f = b ^ c ^ d;
                k = 0xCA62C1D6;
            }
            std::uint32_t tmp = std::rotl(a, 5) + f + e + k + w[t];
            e = d;
            d = c;
            c = std::rotl(b, 30);
            b = a;
            a = tmp;
        }
        h[0] += a;
        h[1] += b;
        h[2] += c;
        h[3] += d;
        h[4] += e;
    }
    std::array<std::uint8_t, 20> out{};
    for (int i = 0; i < 20; ++i) {
        out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(h[i / 4] >> (24 - (i % 4) * 8));
    }
    return out;
}

std::string base64(const std::uint8_t* p, std::size_t n) {
    static constexpr char table[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i < n; i += 3) {
        std::uint32_t v = static_cast<std::uint32_t>(p[i]) << 16;
        if (i + 1 < n) v |= static_cast<std::uint32_t>(p[i + 1]) << 8;
        if (i + 2 < n) v |= p[i + 2];
        out.push_back(table[(v >> 18) & 63]);
        out.push_back(table[(v >> 12) & 63]);
        out.push_back(i + 1 < n ? table[(v >> 6) & 63] : '=');
        out.push_back(i + 2 < n ? table[v & 63] : '=');
    }
    return out;
}

// ---- process and system CPU time (as bench/echo/loadgen) -------------------------------------

// utime + stime of a whole process (all threads) in seconds; nullopt once it has exited
// (including as a zombie its parent has not reaped yet).
std::optional<double> process_cpu_seconds(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    if (!std::getline(in, stat)) return std::nullopt;
    // Fields from 3 on follow the parenthesised command name, which may contain spaces.
    std::size_t paren = stat.rfind(')');
    if (paren == std::string::npos) return std::nullopt;
    std::istringstream rest(stat.substr(paren + 1));
    std::string field;
    unsigned long long utime = 0;
    unsigned long long stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 3 && (field == "Z" || field == "X")) return std::nullopt;
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// This process's own CPU time in seconds: near the window length means the load generator,
// not the server, limited the rate.
double self_cpu_seconds() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto secs = [](const timeval& tv) {
        return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
    };
    return secs(ru.ru_utime) + secs(ru.ru_stime);
}

// Busy (non-idle, non-iowait) CPU seconds of the whole machine since boot, from /proc/stat.
double system_busy_seconds() {
    std::ifstream in("/proc/stat");
    std::string cpu;
    in >> cpu;  // the "cpu" line sums all CPUs
    unsigned long long total = 0;
    unsigned long long idle = 0;
    unsigned long long v = 0;
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    for (int i = 0; i < 8 && in >> v; ++i) {
        total += v;
        if (i == 3 || i == 4) idle += v;
    }
    return static_cast<double>(total - idle) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// Log-linear latency histogram (as bench/echo/loadgen): exact below 128 ns, then 64 buckets
// per power of two (under 1.6% error), in fixed memory however long the run.
class Histogram {
  public:
    void add(std::uint64_t ns) {
        ++counts_[index(ns)];
        ++total_;
    }
    void clear() {
        counts_.fill(0);
        total_ = 0;
    }
    std::uint64_t total() const { return total_; }
    void merge(const Histogram& other) {
        for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
        total_ += other.total_;
    }
    double quantile(double p) const {
        if (total_ == 0) return 0;
        auto rank = static_cast<std::uint64_t>(p * static_cast<double>(total_));
        rank = std::clamp<std::uint64_t>(rank, 1, total_);
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen >= rank) return midpoint(i);
        }
        return midpoint(counts_.size() - 1);
    }

  private:
    static constexpr unsigned sub_bits = 7;
    static constexpr std::uint64_t linear = 1ULL << sub_bits;
    static constexpr std::uint64_t half = linear / 2;
    static constexpr std::size_t bucket_count = linear + (64 - sub_bits) * half;

    static std::size_t index(std::uint64_t v) {
        if (v < linear) return v;
        unsigned exp = 63 - static_cast<unsigned>(std::countl_zero(v));
        unsigned shift = exp - (sub_bits - 1);
        return linear + (exp - sub_bits) * half + ((v >> shift) - half);
    }
    static double midpoint(std::size_t i) {
        if (i < linear) return static_cast<double>(i);
        std::size_t octave = (i - linear) / half;
        std::uint64_t mantissa = (i - linear) % half + half;
        unsigned shift = static_cast<unsigned>(octave) + 1;
        return static_cast<double>(mantissa << shift) + static_cast<double>(1ULL << shift) / 2;
    }

    std::array<std::uint64_t, bucket_count> counts_{};
    std::uint64_t total_ = 0;
};

// ---- sockets ---------------------------------------------------------------------------------

sockaddr_storage loopback_address(const std::string& host, int port, socklen_t& len) {
    sockaddr_storage ss{};
    std::string h = host == "localhost" ? "127.0.0.1" : host;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (::inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
        if ((ntohl(v4->sin_addr.s_addr) >> 24) != 127) fail("refusing non-loopback host " + host);
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<std::uint16_t>(port));
        len = sizeof *v4;
    } else if (::inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr)) fail("refusing non-loopback host " + host);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<std::uint16_t>(port));
        len = sizeof *v6;
    } else {
        fail("--host must be a literal loopback address (127.0.0.0/8 or ::1), got " + host);
    }
    return ss;
}

// Waits up to 5 s for `events` on a non-blocking socket.
void wait_for(int fd, short events, const char* what) {
    pollfd p{.fd = fd, .events = events, .revents = 0};
    int r = 0;
    do {
        r = ::poll(&p, 1, 5000);
    } while (r < 0 && errno == EINTR);
    if (r != 1) fail(std::string(what) + ": timed out");
}

// A connected non-blocking socket with TCP_NODELAY.
int connect_one(const sockaddr_storage& addr, socklen_t len) {
    int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) fail(std::string("socket: ") + std::strerror(errno));
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
        if (errno != EINPROGRESS) fail(std::string("connect: ") + std::strerror(errno));
        wait_for(fd, POLLOUT, "connect");
        int err = 0;
        socklen_t err_len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len);
        if (err != 0) fail(std::string("connect: ") + std::strerror(err));
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

bool icontains(std::string_view hay, std::string_view needle) {
    for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
        if (iequals(hay.substr(i, needle.size()), needle)) return true;
    }
    return false;
}

std::uint64_t xorshift(std::uint64_t& s) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}
// ---- the load generator ----------------------------------------------------------------------

enum Opcode : std::uint8_t {
    op_cont = 0,
    op_text = 1,
    op_binary = 2,
    op_close = 8,
    op_ping = 9,
    op_pong = 10
};

struct Conn {
    int fd = -1;
    std::size_t index = 0;      // among all connections: goes into the payload
    std::size_t slot = 0;       // in its worker's list: the epoll cookie
    std::vector<char> payload;  // the message in flight, unmasked: what the echo must equal
    std::vector<char> out;      // frames not yet written
    std::size_t out_off = 0;
    bool want_out = false;      // EPOLLOUT registered
    std::vector<char> in;       // received bytes not yet parsed: in[0, in_len)
    std::size_t in_len = 0;
    std::vector<char> frag;     // a fragmented echo being reassembled
    bool in_fragmented = false;
    std::uint8_t frag_opcode = 0;
    bool awaiting = false;      // a message is in flight
    std::uint64_t seq = 0;
    Clock::time_point start;
};

// Connects and performs the opening handshake synchronously (5 s timeouts), before any timing.
void open_connection(Conn& c, const Options& opt, const sockaddr_storage& addr, socklen_t len,
                     std::uint64_t& rng) {
    c.fd = connect_one(addr, len);
    std::uint8_t nonce[16];
    for (auto& b : nonce) b = static_cast<std::uint8_t>(xorshift(rng) >> 56);
    const std::string key = base64(nonce, sizeof nonce);
    std::string host = opt.host.find(':') != std::string::npos ? "[" + opt.host + "]" : opt.host;
    std::string req = "GET " + opt.path + " HTTP/1.1\r\nHost: " + host + ":" +
                      std::to_string(opt.port) +
                      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: " +
                      key + "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    std::size_t off = 0;
    while (off < req.size()) {
        ssize_t n = ::send(c.fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
            wait_for(c.fd, POLLOUT, "handshake send");
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail(std::string("handshake send: ") + std::strerror(errno));
        off += static_cast<std::size_t>(n);
    }
    std::string resp;
    std::size_t head_end = std::string::npos;
    char buf[4096];
    while (head_end == std::string::npos) {
        ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EAGAIN) {
            wait_for(c.fd, POLLIN, "handshake response");
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) fail("handshake: server closed the connection");
        if (n < 0) fail(std::string("handshake recv: ") + std::strerror(errno));
        resp.append(buf, static_cast<std::size_t>(n));
        head_end = resp.find("\r\n\r\n");
        if (head_end == std::string::npos && resp.size() > 65536) {
            fail("handshake: response headers over 64 KiB");
        }
    }
    std::string_view head(resp.data(), head_end + 2);
    auto status_end = head.find("\r\n");
    std::string_view status = head.substr(0, status_end);
    if (status.substr(0, 12) != "HTTP/1.1 101") {
        fail("handshake: expected 101 Switching Protocols, got \"" + std::string(status) + "\"");
    }
    auto digest = sha1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    const std::string want_accept = base64(digest.data(), digest.size());
    bool upgrade_ok = false;
    bool connection_ok = false;
    bool accept_ok = false;
    for (std::size_t pos = status_end + 2; pos < head.size();) {
        std::size_t eol = head.find("\r\n", pos);
        std::string_view line = head.substr(pos, eol - pos);
        pos = eol + 2;
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) fail("handshake: malformed header line");
        std::string_view name = line.substr(0, colon);
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
            value.remove_prefix(1);
        }
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
            value.remove_suffix(1);
        }
        if (iequals(name, "Upgrade")) upgrade_ok = iequals(value, "websocket");
        if (iequals(name, "Connection")) connection_ok = icontains(value, "upgrade");
        if (iequals(name, "Sec-WebSocket-Accept")) accept_ok = value == want_accept;
        if (iequals(name, "Sec-WebSocket-Extensions")) {
            fail("handshake: server negotiated an extension (" + std::string(value) + ")");
        }
    }
    if (!upgrade_ok) fail("handshake: no \"Upgrade: websocket\" in the response");
    if (!connection_ok) fail("handshake: no \"Connection: Upgrade\" in the response");
    if (!accept_ok) fail("handshake: missing or wrong Sec-WebSocket-Accept");
    // Bytes after the headers (a server may speak first) belong to the frame stream.
    std::size_t extra = resp.size() - (head_end + 4);
    if (extra > c.in.size()) c.in.resize(extra * 2);
    std::memcpy(c.in.data(), resp.data() + head_end + 4, extra);
    c.in_len = extra;
}

// One thread's share of the connections, on its own epoll instance. With --threads 1 (the
// default) a single worker drives every connection.
class Worker {
  public:
    Worker(const Options& o, std::vector<Conn> conns, std::uint64_t seed)
        : opt_(o), conns_(std::move(conns)), rng_(seed) {
        epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
        if (epfd_ < 0) fail(std::string("epoll_create1: ") + std::strerror(errno));
        for (std::size_t i = 0; i < conns_.size(); ++i) {
            Conn& c = conns_[i];
            c.slot = i;
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLRDHUP;
            ev.data.u64 = i;
            if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, c.fd, &ev) != 0) {
                fail(std::string("epoll_ctl: ") + std::strerror(errno));
            }
        }
    }
    ~Worker() {
        for (Conn& c : conns_) {
            if (c.fd >= 0) ::close(c.fd);
        }
        ::close(epfd_);
    }
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    const Histogram& histogram() const { return hist_; }
    std::uint64_t errors() const { return errors_; }

    // Ping-pong until `end`; echoes that complete before `warm_end` are not counted.
    void run(Clock::time_point warm_end, Clock::time_point end) {
        for (Conn& c : conns_) send_message(c);
        bool measuring = Clock::now() >= warm_end;
        std::vector<epoll_event> events(std::min<std::size_t>(conns_.size(), 1024));
        for (auto now = Clock::now(); now < end; now = Clock::now()) {
            if (!measuring && now >= warm_end) {
                measuring = true;
                hist_.clear();  // errors are kept: a bad echo in the warm-up fails the run too
            }
            auto wait = std::min(measuring ? end - now : warm_end - now,
                                 Clock::duration(std::chrono::milliseconds(100)));
            int ms = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(wait).count());
            int n = ::epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), ms);
            if (n < 0) {
                if (errno == EINTR) continue;
                fail(std::string("epoll_wait: ") + std::strerror(errno));
            }
            if (n == 0 && opt_.cpu_pid != 0 && !process_cpu_seconds(opt_.cpu_pid)) {
                fail("server process exited");
            }
            for (int k = 0; k < n; ++k) {
                const epoll_event& e = events[static_cast<std::size_t>(k)];
                Conn& c = conns_[e.data.u64];
                if (e.events & EPOLLOUT) flush(c);
                if (e.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(c);
            }
        }
    }

  private:
    // Appends one masked client frame to c.out.
    void append_frame(Conn& c, std::uint8_t opcode, const char* data, std::size_t len) {
        std::uint8_t head[14];
        std::size_t h = 0;
        head[h++] = static_cast<std::uint8_t>(0x80 | opcode);
        if (len < 126) {
            head[h++] = static_cast<std::uint8_t>(0x80 | len);
        } else if (len <= 0xffff) {
            head[h++] = 0x80 | 126;
            head[h++] = static_cast<std::uint8_t>(len >> 8);
            head[h++] = static_cast<std::uint8_t>(len);
        } else {
            head[h++] = 0x80 | 127;
            for (int i = 7; i >= 0; --i) head[h++] = static_cast<std::uint8_t>(len >> (i * 8));
        }
        const auto key = static_cast<std::uint32_t>(xorshift(rng_));
        std::memcpy(head + h, &key, 4);
        h += 4;
        std::size_t at = c.out.size();
        c.out.resize(at + h + len);
        char* dst = c.out.data() + at;
        std::memcpy(dst, head, h);
        dst += h;
        // Mask 8 bytes at a time; the key repeats every 4 bytes from the payload's start.
        const std::uint64_t key8 = (std::uint64_t{key} << 32) | key;
        std::size_t i = 0;
        for (; i + 8 <= len; i += 8) {
            std::uint64_t v = 0;
            std::memcpy(&v, data + i, 8);
            v ^= key8;
            std::memcpy(dst + i, &v, 8);
        }
        const auto* k = reinterpret_cast<const std::uint8_t*>(&key);
        for (; i < len; ++i) {
            dst[i] = static_cast<char>(static_cast<std::uint8_t>(data[i]) ^ k[i & 3]);
        }
    }

    // Starts the next round trip: a new sequence number, one data frame, written at once.
    void send_message(Conn& c) {
        ++c.seq;
        // 16 hex digits of sequence number, then 8 of connection index, then the filler.
        static constexpr char hex[] = "0123456789abcdef";
        char tag[24];
        for (int i = 0; i < 16; ++i) tag[i] = hex[(c.seq >> (60 - 4 * i)) & 0xf];
        for (int i = 0; i < 8; ++i) tag[16 + i] = hex[(c.index >> (28 - 4 * i)) & 0xf];
        std::memcpy(c.payload.data(), tag, std::min(c.payload.size(), sizeof tag));
        c.awaiting = true;
        c.start = Clock::now();
        append_frame(c, opt_.text ? op_text : op_binary, c.payload.data(), c.payload.size());
        flush(c);
    }

    void flush(Conn& c) {
        while (c.out_off < c.out.size()) {
            ssize_t n =
                ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) break;
            if (n < 0) fail(std::string("send: ") + std::strerror(errno) + " (server gone?)");
            c.out_off += static_cast<std::size_t>(n);
        }
        bool pending = c.out_off < c.out.size();
        if (!pending) {
            c.out.clear();
            c.out_off = 0;
        }
        if (pending != c.want_out) {
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLRDHUP | (pending ? EPOLLOUT : 0U);
            ev.data.u64 = c.slot;
            if (::epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev) != 0) {
                fail(std::string("epoll_ctl: ") + std::strerror(errno));
            }
            c.want_out = pending;
        }
    }

    // One recv (level-triggered epoll reports the rest), then every complete frame is handled.
    void on_readable(Conn& c) {
        if (c.in_len == c.in.size()) c.in.resize(c.in.size() * 2);
        ssize_t n = ::recv(c.fd, c.in.data() + c.in_len, c.in.size() - c.in_len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (n < 0) fail(std::string("recv: ") + std::strerror(errno) + " (server gone?)");
        if (n == 0) fail("server closed a connection");
        c.in_len += static_cast<std::size_t>(n);
        std::size_t pos = 0;
        for (;;) {
            const auto* p = reinterpret_cast<const std::uint8_t*>(c.in.data() + pos);
            std::size_t avail = c.in_len - pos;
            if (avail < 2) break;
            const bool fin = (p[0] & 0x80) != 0;
            const std::uint8_t opcode = p[0] & 0x0f;
            if ((p[0] & 0x70) != 0) fail("protocol: RSV bits set in a server frame");
            if ((p[1] & 0x80) != 0) fail("protocol: the server masked a frame");
            std::size_t h = 2;
            std::uint64_t len = p[1] & 0x7f;
            if (len == 126) {
                if (avail < 4) break;
                len = (std::uint64_t{p[2]} << 8) | p[3];
                h = 4;
            } else if (len == 127) {
                if (avail < 10) break;
                len = 0;
                for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
                h = 10;
            }
            if (len > (std::uint64_t{1} << 30)) fail("protocol: frame over 1 GiB");
            if (avail < h + len) {
                if (h + len > c.in.size()) {  // make room for the whole frame
                    std::memmove(c.in.data(), c.in.data() + pos, avail);
                    c.in_len = avail;
                    pos = 0;
                    c.in.resize(h + static_cast<std::size_t>(len));
                }
                break;
            }
            const char* body = c.in.data() + pos + h;
            const auto blen = static_cast<std::size_t>(len);
            pos += h + blen;
            on_frame(c, fin, opcode, body, blen);
        }
        if (pos > 0) {
            std::memmove(c.in.data(), c.in.data() + pos, c.in_len - pos);
            c.in_len -= pos;
        }
    }

    void on_frame(Conn& c, bool fin, std::uint8_t opcode, const char* body, std::size_t len) {
        if ((opcode & 0x8) != 0 && (!fin || len > 125)) {
            fail("protocol: control frame fragmented or over 125 bytes");
        }
        switch (opcode) {
            case op_ping:
                append_frame(c, op_pong, body, len);
                flush(c);
                return;
            case op_pong:
                return;
            case op_close: {
                unsigned code =
                    len >= 2 ? (unsigned{static_cast<std::uint8_t>(body[0])} << 8) |
                                   static_cast<std::uint8_t>(body[1])
                             : 0;
                fail("the server sent a close frame (code " + std::to_string(code) + ")");
            }
            case op_text:
            case op_binary:
                if (c.in_fragmented) fail("protocol: new message inside a fragmented one");
                if (fin) return on_message(c, opcode, body, len);
                c.in_fragmented = true;
                c.frag_opcode = opcode;
                c.frag.assign(body, body + len);
                return;
            case op_cont:
                if (!c.in_fragmented) fail("protocol: continuation frame outside a message");
                c.frag.insert(c.frag.end(), body, body + len);
                if (fin) {
                    c.in_fragmented = false;
                    on_message(c, c.frag_opcode, c.frag.data(), c.frag.size());
                }
                return;
            default:
                fail("protocol: reserved opcode " + std::to_string(opcode));
        }
    }

    void on_message(Conn& c, std::uint8_t opcode, const char* data, std::size_t len) {
        if (!c.awaiting) fail("protocol: a message arrived with none in flight");
        c.awaiting = false;
        const std::uint8_t want = opt_.text ? op_text : op_binary;
        if (opcode == want && len == c.payload.size() &&
            std::memcmp(data, c.payload.data(), len) == 0) {
            hist_.add(static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - c.start)
                    .count()));
        } else {
            std::string error;
            if (opcode != want) {
                error = "opcode " + std::to_string(opcode) + ", sent " + std::to_string(want);
            } else if (len != c.payload.size()) {
                error = "length " + std::to_string(len) + ", sent " +
                        std::to_string(c.payload.size());
            } else {
                error = "payload differs (sent sequence " + std::to_string(c.seq) + ": \"" +
                        std::string(data, std::min<std::size_t>(len, 24)) + "\" came back)";
            }
            ++errors_;
            if (++reported_ <= 5) {
                std::fprintf(stderr, "ws_loadgen: connection %zu: bad echo: %s\n", c.index,
                             error.c_str());
            }
        }
        send_message(c);
    }

    const Options& opt_;
    std::vector<Conn> conns_;
    std::uint64_t rng_;
    int epfd_ = -1;
    Histogram hist_;
    std::uint64_t errors_ = 0;
    std::uint64_t reported_ = 0;
};

Clock::duration to_duration(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

int run(const Options& opt) {
    socklen_t addr_len = 0;
    const sockaddr_storage addr = loopback_address(opt.host, opt.port, addr_len);
    auto read_cpu = [&]() -> std::optional<double> {
        if (opt.cpu_pid == 0) return std::nullopt;
        return process_cpu_seconds(opt.cpu_pid);
    };
    if (opt.cpu_pid != 0 && !read_cpu()) {
        fail("--cpu-pid " + std::to_string(opt.cpu_pid) + ": no such running process");
    }

    // Connect and handshake every connection, then deal them out to the workers.
    const auto size = static_cast<std::size_t>(opt.size);
    std::uint64_t rng = 0x9E3779B97F4A7C15ULL ^ static_cast<std::uint64_t>(::getpid());
    std::vector<std::vector<Conn>> shares(static_cast<std::size_t>(opt.threads));
    for (std::size_t i = 0; i < static_cast<std::size_t>(opt.conns); ++i) {
        Conn c;
        c.index = i;
        c.in.resize(std::max<std::size_t>(size + 14, 4096) + 4096);
        c.payload.resize(size);
        for (std::size_t k = 0; k < size; ++k) {  // the filler: fixed per connection
            c.payload[k] = static_cast<char>('a' + (i * 7 + k) % 26);
        }
        open_connection(c, opt, addr, addr_len, rng);
        shares[i % shares.size()].push_back(std::move(c));
    }
    std::vector<std::unique_ptr<Worker>> workers;
    for (auto& share : shares) {
        workers.push_back(std::make_unique<Worker>(opt, std::move(share), xorshift(rng)));
    }

    const auto t0 = Clock::now();
    const auto warm_end = t0 + to_duration(opt.warmup);
    const auto end = warm_end + to_duration(opt.seconds);
    std::vector<std::thread> threads;
    for (auto& w : workers) {
        threads.emplace_back([&w, warm_end, end] { w->run(warm_end, end); });
    }
    // This thread only samples the CPU counters at the window's edges.
    std::this_thread::sleep_until(warm_end);
    const auto window_start = Clock::now();
    const std::optional<double> cpu_start = read_cpu();
    const double self_start = self_cpu_seconds();
    const double busy_start = system_busy_seconds();
    for (auto& t : threads) t.join();
    const auto window_end = Clock::now();
    const std::optional<double> cpu_end = read_cpu();
    const double self_cpu = self_cpu_seconds() - self_start;
    const double busy = system_busy_seconds() - busy_start;
    if (opt.cpu_pid != 0 && !cpu_end) fail("server process exited during the measurement");

    Histogram hist;
    std::uint64_t errors = 0;
    for (auto& w : workers) {
        hist.merge(w->histogram());
        errors += w->errors();
    }
    const double secs = std::chrono::duration<double>(window_end - window_start).count();
    const std::uint64_t msgs = hist.total();
    std::printf(
        "msgs_per_s=%.0f p50_us=%.2f p99_us=%.2f conns=%d size=%d msgs=%llu errors=%llu "
        "window_s=%.3f loadgen_cpu_s=%.3f system_cpu_s=%.3f",
        static_cast<double>(msgs) / secs, hist.quantile(0.50) / 1e3, hist.quantile(0.99) / 1e3,
        opt.conns, opt.size, static_cast<unsigned long long>(msgs),
        static_cast<unsigned long long>(errors), secs, self_cpu, busy);
    if (cpu_start && cpu_end) {
        double cpu = *cpu_end - *cpu_start;
        std::printf(" server_cpu_s=%.3f msgs_per_cpu_s=%.0f", cpu,
                    cpu > 0 ? static_cast<double>(msgs) / cpu : 0.0);
    }
    std::printf("\n");
    std::fflush(stdout);
    if (msgs == 0) {
        std::fprintf(stderr, "ws_loadgen: no echo completed in the window (server stalled?)\n");
        return 1;
    }
    if (errors > 0) {
        std::fprintf(stderr, "ws_loadgen: %llu echoes did not match what was sent\n",
                     static_cast<unsigned long long>(errors));
        return 1;
    }
    return 0;
}

void raise_fd_limit(int conns) {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
    auto want = static_cast<rlim_t>(conns + 64);
    if (lim.rlim_cur >= want) return;
    lim.rlim_cur = std::min(want, lim.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &lim);
}

}  // namespace

int main(int argc, char** argv) {
    Options opt = parse_options(argc, argv);
    raise_fd_limit(opt.conns);
    return run(opt);
}
