// events.cpp: the subscriber registry. Sinks are called under the lock: they only queue
// (WebSocket::send, Channel::try_send), so the lock is held for microseconds, and a
// subscriber cannot see messages out of order.
#include "events.hpp"

#include <dally/web/json.hpp>

#include <fmt/format.h>

#include <vector>

namespace br {

std::uint64_t EventHub::add(Sink sink, Filter filter) {
    std::lock_guard lock(m_mutex);
    std::uint64_t id = m_next++;
    m_subs.emplace(id, Subscriber{std::move(sink), filter, {}});
    return id;
}

void EventHub::remove(std::uint64_t id) {
    std::lock_guard lock(m_mutex);
    m_subs.erase(id);
}

void EventHub::subscribe_log(std::uint64_t id, std::int64_t build_id) {
    std::lock_guard lock(m_mutex);
    if (auto it = m_subs.find(id); it != m_subs.end()) it->second.log_builds.insert(build_id);
}

void EventHub::unsubscribe_log(std::uint64_t id, std::int64_t build_id) {
    std::lock_guard lock(m_mutex);
    if (auto it = m_subs.find(id); it != m_subs.end()) it->second.log_builds.erase(build_id);
}

void EventHub::publish(std::int64_t package_id, std::int64_t build_id, std::string_view type,
                       const std::string& json) {
    std::lock_guard lock(m_mutex);
    Delivery d{json, build_id, type, {}};
    for (auto it = m_subs.begin(); it != m_subs.end();) {
        const Filter& f = it->second.filter;
        bool wanted = f.all_events || (f.package_id != 0 && f.package_id == package_id);
        if (wanted && !it->second.sink(d)) {
            it = m_subs.erase(it);
        } else {
            ++it;
        }
    }
}

bool EventHub::wants_log(std::int64_t package_id, std::int64_t build_id) const {
    std::lock_guard lock(m_mutex);
    for (const auto& [id, s] : m_subs) {
        if (s.log_builds.count(build_id) != 0) return true;
        if (s.filter.package_logs && s.filter.package_id == package_id) return true;
    }
    return false;
}

void EventHub::publish_log(std::int64_t package_id, std::int64_t build_id, std::string_view data) {
    std::lock_guard lock(m_mutex);
    std::string message;  // built once, for the first subscriber that wants it
    for (auto it = m_subs.begin(); it != m_subs.end();) {
        const Subscriber& s = it->second;
        bool wanted = s.log_builds.count(build_id) != 0 ||
                      (s.filter.package_logs && s.filter.package_id == package_id);
        if (wanted) {
            if (message.empty()) message = log_message(build_id, data);
            if (!s.sink(Delivery{message, build_id, "log", data})) {
                it = m_subs.erase(it);
                continue;
            }
        }
        ++it;
    }
}

std::size_t EventHub::size() const {
    std::lock_guard lock(m_mutex);
    return m_subs.size();
}

std::string log_message(std::int64_t build_id, std::string_view data, bool replay) {
    std::string out = fmt::format(R"({{"type":"log","build":{},"data":)", build_id);
    dally::web::append_json_string(out, data);
    out += replay ? ",\"replay\":true}" : "}";
    return out;
}

}  // namespace br
