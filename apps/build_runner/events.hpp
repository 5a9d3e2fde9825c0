// events.hpp: the fan-out of build events to live subscribers (dashboard WebSockets, SSE
// streams, following log requests). Each subscriber gives a sink that takes one JSON message
// and says whether it still wants more; sinks must not block (WebSocket::send and
// Channel::try_send do not). Thread-safe: publishing happens on the runner's runtime,
// subscribing from any connection's runtime.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

namespace br {

class EventHub {
public:
    // What a subscriber receives: the JSON message, its type ("submitted", "queued",
    // "started", "state", "finished", "log"), and for log pieces the raw bytes.
    struct Delivery {
        const std::string& json;
        std::int64_t build_id;  // 0 for the package's own `submitted`
        std::string_view type;
        std::string_view raw;   // log pieces: the output itself
    };
    // Returns false when the subscriber is gone (it is then removed).
    using Sink = std::function<bool(const Delivery&)>;

    struct Filter {
        bool all_events = true;          // every submitted/queued/started/state/finished message
        std::int64_t package_id = 0;     // else only those of this package (0: none)
        bool package_logs = false;       // and the log lines of that package's builds
    };

    std::uint64_t add(Sink sink, Filter filter);
    void remove(std::uint64_t id);
    // Log lines of `build_id` for subscriber `id` from now on.
    void subscribe_log(std::uint64_t id, std::int64_t build_id);
    void unsubscribe_log(std::uint64_t id, std::int64_t build_id);

    // A message of `type` (`json` is all of it) about build `build_id` (0: the package) of
    // `package_id`.
    void publish(std::int64_t package_id, std::int64_t build_id, std::string_view type, const std::string& json);
    // A log piece of `build_id`; the message is built only if someone wants it.
    void publish_log(std::int64_t package_id, std::int64_t build_id, std::string_view data);
    bool wants_log(std::int64_t package_id, std::int64_t build_id) const;

    std::size_t size() const;

private:
    struct Subscriber {
        Sink sink;
        Filter filter;
        std::set<std::int64_t> log_builds;
    };
    mutable std::mutex m_mutex;
    std::map<std::uint64_t, Subscriber> m_subs;
    std::uint64_t m_next = 1;
};

// The JSON message for a log piece: {"type":"log","build":ID,"data":"..."} (+ "replay":true).
std::string log_message(std::int64_t build_id, std::string_view data, bool replay = false);

}  // namespace br
