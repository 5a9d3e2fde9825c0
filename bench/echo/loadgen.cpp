// loadgen: a single-threaded io_uring TCP echo load generator for bench/echo/run.sh.
// Each of C connections plays ping-pong: send M bytes, wait until the M bytes come back
// (checked), record the round trip, repeat. After a warm-up it measures for S seconds and
// prints one line:
//
//   rps=<round trips/s> p50_us=<..> p99_us=<..> conns=C size=M rts=<round trips>
//       window_s=<..> loadgen_cpu_s=<..> system_cpu_s=<..>
//       [server_cpu_s=<..> rt_per_cpu_s=<..>]
//
// server_cpu_s and rt_per_cpu_s (round trips per server CPU-second, from utime+stime in
// /proc/PID/stat, so in clock ticks) appear with --cpu-pid. system_cpu_s is the busy time of
// all CPUs in the window: well above loadgen + server means other work skewed the run.
//
//   loadgen --host 127.0.0.1 --port N --conns C --size M --seconds S [--warmup W]
//           [--cpu-pid PID]
//
// Only loopback hosts (127.0.0.0/8, ::1) are accepted. The run is bounded in time: a stalled
// server yields a report of what completed; a server that closes or resets a connection
// makes loadgen exit with status 1.

#include <arpa/inet.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string host = "127.0.0.1";
    int port = 0;
    int conns = 1;
    int size = 64;
    double seconds = 3;  // measurement window
    double warmup = 1;   // before the window; its round trips are not counted
    int cpu_pid = 0;     // server whose CPU time is read at the window's edges; 0: none
};

[[noreturn]] void fail(const std::string& msg) {
    std::fprintf(stderr, "loadgen: %s\n", msg.c_str());
    std::exit(1);
}

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "loadgen: %s\nusage: loadgen --host 127.0.0.1 --port N --conns C --size M "
                 "--seconds S [--warmup W] [--cpu-pid PID]\n",
                 why);
    std::exit(2);
}

Options parse_options(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (i + 1 >= argc) usage("missing value");
        const char* val = argv[++i];
        char* end = nullptr;
        if (arg == "--host") {
            o.host = val;
            continue;
        }
        double num = std::strtod(val, &end);
        if (end == val || *end != '\0') usage("not a number");
        if (arg == "--port")
            o.port = static_cast<int>(num);
        else if (arg == "--conns")
            o.conns = static_cast<int>(num);
        else if (arg == "--size")
            o.size = static_cast<int>(num);
        else if (arg == "--seconds")
            o.seconds = num;
        else if (arg == "--warmup")
            o.warmup = num;
        else if (arg == "--cpu-pid")
            o.cpu_pid = static_cast<int>(num);
        else
            usage("unknown option");
    }
    if (o.port <= 0 || o.port > 65535) usage("--port must be 1..65535");
    if (o.conns < 1 || o.conns > 10000) usage("--conns must be 1..10000");
    if (o.size < 1 || o.size > (1 << 20)) usage("--size must be 1..1048576");
    if (!(o.seconds > 0 && o.seconds <= 3600)) usage("--seconds must be in (0, 3600]");
    if (!(o.warmup >= 0 && o.warmup <= 3600)) usage("--warmup must be in [0, 3600]");
    return o;
}

// Resolves --host to a loopback socket address; anything else is refused.
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

// Connects with a deadline, then returns a blocking socket: io_uring polls for readiness
// itself, and on some kernels it hands -EAGAIN back for O_NONBLOCK sockets.
int connect_one(const sockaddr_storage& addr, socklen_t len) {
    int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) fail(std::string("socket: ") + std::strerror(errno));
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
        if (errno != EINPROGRESS) fail(std::string("connect: ") + std::strerror(errno));
        pollfd p{.fd = fd, .events = POLLOUT, .revents = 0};
        if (::poll(&p, 1, 5000) != 1) fail("connect: timed out");
        int err = 0;
        socklen_t err_len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len);
        if (err != 0) fail(std::string("connect: ") + std::strerror(err));
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

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
// Less this process and the server, it shows how much other work shared the CPUs.
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

// Log-linear latency histogram: exact below 2^sub_bits ns, then 2^(sub_bits-1) buckets per
// power of two (under 1.6% error), in fixed memory however long the run.
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
    // The p-quantile (0 < p <= 1) in ns, as the midpoint of its bucket.
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
    static constexpr std::uint64_t linear = 1ULL << sub_bits;  // exact region
    static constexpr std::uint64_t half = linear / 2;          // buckets per octave above it
    static constexpr std::size_t bucket_count = linear + (64 - sub_bits) * half;

    static std::size_t index(std::uint64_t v) {
        if (v < linear) return v;
        unsigned exp = 63 - static_cast<unsigned>(std::countl_zero(v));  // >= sub_bits
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

enum Op : std::uint64_t { op_send = 0, op_recv = 1 };

struct Conn {
    int fd = -1;
    std::vector<char> out;  // the message; byte 0 changes every round trip
    std::vector<char> in;   // the echo
    std::size_t sent = 0;
    std::size_t got = 0;
    std::uint8_t seq = 0;
    Clock::time_point start;
};

class LoadGen {
  public:
    explicit LoadGen(const Options& o) : opt_(o) {
        addr_ = loopback_address(opt_.host, opt_.port, addr_len_);  // refuse a bad host first
        io_uring_params params{};
        // Each connection has at most a send and a recv in flight; size the CQ for all of them.
        // The kernel wants at least as many CQ entries as SQ entries.
        auto conns = static_cast<unsigned>(o.conns);
        params.cq_entries = std::bit_ceil(std::max(2U * sq_entries, 2U * conns + 64));
        const unsigned flag_sets[] = {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                                      IORING_SETUP_COOP_TASKRUN, 0};
        int ret = -EINVAL;
        for (unsigned flags : flag_sets) {
            params.flags = flags | IORING_SETUP_CQSIZE;
            ret = io_uring_queue_init_params(sq_entries, &ring_, &params);
            if (ret != -EINVAL) break;
        }
        if (ret < 0) fail(std::string("io_uring_queue_init_params: ") + std::strerror(-ret));
        skip_send_cqe_ = (params.features & IORING_FEAT_CQE_SKIP) != 0;
    }
    ~LoadGen() { io_uring_queue_exit(&ring_); }
    LoadGen(const LoadGen&) = delete;
    LoadGen& operator=(const LoadGen&) = delete;

    int run() {
        if (opt_.cpu_pid != 0 && !read_cpu()) {
            fail("--cpu-pid " + std::to_string(opt_.cpu_pid) + ": no such running process");
        }
        conns_.resize(static_cast<std::size_t>(opt_.conns));
        for (Conn& c : conns_) {
            c.fd = connect_one(addr_, addr_len_);
            c.out.assign(static_cast<std::size_t>(opt_.size), 'x');
            c.in.resize(static_cast<std::size_t>(opt_.size));
        }
        for (std::size_t i = 0; i < conns_.size(); ++i) start_round_trip(i);

        const auto t0 = Clock::now();
        const auto warm_end = t0 + to_duration(opt_.warmup);
        const auto end = warm_end + to_duration(opt_.seconds);
        auto window_start = t0;
        std::optional<double> cpu_start;
        double self_start = 0;
        double busy_start = 0;
        bool measuring = opt_.warmup == 0;
        if (measuring) {
            cpu_start = read_cpu();
            self_start = self_cpu_seconds();
            busy_start = system_busy_seconds();
        }

        for (auto now = t0; now < end; now = Clock::now()) {
            if (!measuring && now >= warm_end) {
                measuring = true;
                window_start = now;
                cpu_start = read_cpu();
                self_start = self_cpu_seconds();
                busy_start = system_busy_seconds();
                hist_.clear();
            }
            auto wait = std::min(measuring ? end - now : warm_end - now,
                                 Clock::duration(std::chrono::milliseconds(100)));
            auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
            __kernel_timespec ts{.tv_sec = ns / 1'000'000'000, .tv_nsec = ns % 1'000'000'000};
            io_uring_cqe* first = nullptr;
            int ret = io_uring_submit_and_wait_timeout(&ring_, &first, 1, &ts, nullptr);
            if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
                fail(std::string("io_uring_submit_and_wait_timeout: ") + std::strerror(-ret));
            }
            // A killed io_uring server may not close its sockets at once; notice it is gone.
            if (ret == -ETIME && opt_.cpu_pid != 0 && !read_cpu()) {
                fail("server process exited");
            }
            unsigned head = 0;
            unsigned seen = 0;
            io_uring_cqe* cqe = nullptr;
            io_uring_for_each_cqe(&ring_, head, cqe) {
                handle(cqe);
                ++seen;
            }
            io_uring_cq_advance(&ring_, seen);
        }
        const auto window_end = Clock::now();
        std::optional<double> cpu_end = read_cpu();
        double self_cpu = self_cpu_seconds() - self_start;
        double busy = system_busy_seconds() - busy_start;
        if (opt_.cpu_pid != 0 && !cpu_end) fail("server process exited during the measurement");

        double secs = std::chrono::duration<double>(window_end - window_start).count();
        std::uint64_t rts = hist_.total();
        std::printf(
            "rps=%.0f p50_us=%.2f p99_us=%.2f conns=%d size=%d rts=%llu window_s=%.3f "
            "loadgen_cpu_s=%.3f system_cpu_s=%.3f",
            static_cast<double>(rts) / secs, hist_.quantile(0.50) / 1e3, hist_.quantile(0.99) / 1e3,
            opt_.conns, opt_.size, static_cast<unsigned long long>(rts), secs, self_cpu, busy);
        if (cpu_start && cpu_end) {
            double cpu = *cpu_end - *cpu_start;
            std::printf(" server_cpu_s=%.3f rt_per_cpu_s=%.0f", cpu,
                        cpu > 0 ? static_cast<double>(rts) / cpu : 0.0);
        }
        std::printf("\n");
        std::fflush(stdout);
        if (rts == 0) {
            std::fprintf(stderr,
                         "loadgen: no round trip completed in the window (server stalled?)\n");
            return 1;
        }
        return 0;
    }

  private:
    static constexpr unsigned sq_entries = 1024;

    static Clock::duration to_duration(double s) {
        return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
    }
    std::optional<double> read_cpu() const {
        if (opt_.cpu_pid == 0) return std::nullopt;
        return process_cpu_seconds(opt_.cpu_pid);
    }

    io_uring_sqe* get_sqe() {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        if (sqe == nullptr) {
            int ret = io_uring_submit(&ring_);
            if (ret < 0) fail(std::string("io_uring_submit: ") + std::strerror(-ret));
            sqe = io_uring_get_sqe(&ring_);
            if (sqe == nullptr) fail("submission queue full");
        }
        return sqe;
    }

    void arm_send(std::size_t i) {
        Conn& c = conns_[i];
        io_uring_sqe* sqe = get_sqe();
        // MSG_WAITALL makes the kernel finish short sends itself, so a send that succeeds needs
        // no completion: one io_uring_enter per round trip instead of two.
        io_uring_prep_send(sqe, c.fd, c.out.data() + c.sent, c.out.size() - c.sent,
                           MSG_NOSIGNAL | MSG_WAITALL);
        io_uring_sqe_set_data64(sqe, (i << 1) | op_send);
        if (skip_send_cqe_) sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    }

    void arm_recv(std::size_t i) {
        Conn& c = conns_[i];
        io_uring_sqe* sqe = get_sqe();
        io_uring_prep_recv(sqe, c.fd, c.in.data() + c.got, c.in.size() - c.got, 0);
        io_uring_sqe_set_data64(sqe, (i << 1) | op_recv);
    }

    void start_round_trip(std::size_t i) {
        Conn& c = conns_[i];
        c.out[0] = static_cast<char>(++c.seq);
        c.sent = 0;
        c.got = 0;
        c.start = Clock::now();
        arm_send(i);
        arm_recv(i);  // queued behind the send; the kernel parks it until the echo arrives
    }

    void handle(const io_uring_cqe* cqe) {
        std::uint64_t data = io_uring_cqe_get_data64(cqe);
        std::size_t i = data >> 1;
        Conn& c = conns_[i];
        int res = cqe->res;
        if ((data & 1) == op_send) {
            if (res < 0) fail(std::string("send: ") + std::strerror(-res) + " (server gone?)");
            c.sent += static_cast<std::size_t>(res);
            if (c.sent < c.out.size()) arm_send(i);
            return;
        }
        if (res == 0) fail("server closed a connection");
        if (res < 0) fail(std::string("recv: ") + std::strerror(-res) + " (server gone?)");
        c.got += static_cast<std::size_t>(res);
        if (c.got < c.in.size()) {
            arm_recv(i);
            return;
        }
        if (c.in != c.out) fail("echo does not match what was sent");
        hist_.add(static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - c.start).count()));
        start_round_trip(i);
    }

    Options opt_;
    sockaddr_storage addr_{};
    socklen_t addr_len_ = 0;
    io_uring ring_{};
    bool skip_send_cqe_ = false;
    std::vector<Conn> conns_;
    Histogram hist_;
};

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
    LoadGen gen(opt);
    return gen.run();
}
