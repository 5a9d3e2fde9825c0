// views.cpp: JSON and SVG documents of the API.
#include "views.hpp"

#include <dally/web/json.hpp>

#include <fmt/format.h>

namespace br {

using dally::web::json_str;

namespace {

std::string opt_int(const std::optional<std::int64_t>& v) {
    return v ? std::to_string(*v) : std::string("null");
}

}  // namespace

std::string build_json(const BuildRecord& b) {
    return fmt::format(
        R"({{"id":{},"package_id":{},"package":{},"toolchain":{},"state":{},"repo_url":{},"ref":{},)"
        R"("commit":{},"priority":{},"attempt":{},"created_ms":{},"started_ms":{},"finished_ms":{},)"
        R"("duration_ms":{},"exit_code":{},"signal":{},"reason":{},"failed_step":{},"peak_memory_kb":{},)"
        R"("log_bytes":{},"log_truncated":{},"cached_from":{},"duplicate_of":{},"retry_of":{},)"
        R"("job_id":{}}})",
        b.id, b.package_id, json_str{b.package}, json_str{b.toolchain}, json_str{to_string(b.state)},
        json_str{b.repo_url}, json_str{b.ref}, json_str{b.commit}, b.priority, b.attempt, b.created_ms,
        b.started_ms, b.finished_ms, b.duration_ms(),
        b.exit_code ? std::to_string(*b.exit_code) : std::string("null"), b.signal, json_str{b.reason},
        json_str{b.failed_step}, b.peak_memory_kb, b.log_bytes, b.log_truncated, opt_int(b.cached_from),
        opt_int(b.duplicate_of), opt_int(b.retry_of),
        b.job_id.empty() ? std::string("null") : fmt::format("{}", json_str{b.job_id}));
}

std::string package_json(const PackageRecord& p, const std::vector<BuildRecord>& builds, bool with_ids) {
    std::string out = fmt::format(R"({{"id":{},"name":{},"repo_url":{},"ref":{},"priority":{},"created_ms":{},)",
                                  p.id, json_str{p.name}, json_str{p.repo_url}, json_str{p.ref}, p.priority,
                                  p.created_ms);
    if (with_ids) {
        out += "\"build_ids\":[";
        for (std::size_t i = 0; i < builds.size(); ++i) {
            if (i) out += ',';
            out += std::to_string(builds[i].id);
        }
        out += "],";
    }
    out += "\"builds\":[";
    for (std::size_t i = 0; i < builds.size(); ++i) {
        if (i) out += ',';
        out += build_json(builds[i]);
    }
    out += "]}";
    return out;
}

std::string limits_json(const Limits& l) {
    return fmt::format(
        R"({{"memory_bytes":{},"cpus":{},"wall_s":{},"no_output_s":{},"max_processes":{},"max_file_bytes":{},)"
        R"("tmp_bytes":{},"log_bytes":{},"fetch_timeout_s":{},"fetch_max_bytes":{}}})",
        l.memory_bytes, l.cpus, l.wall.count(), l.no_output.count(), l.max_processes, l.max_file_bytes, l.tmp_bytes,
        l.log_bytes, l.fetch_timeout.count(), l.fetch_max_bytes);
}

std::string toolchain_json(const Toolchain& t) {
    std::string steps;
    for (const Step& s : t.steps) {
        if (!steps.empty()) steps += ',';
        steps += fmt::format(R"({{"name":{},"run":{}}})", json_str{s.name}, json_str{s.run});
    }
    return fmt::format(R"({{"name":{},"kind":{},"version":{},"steps":[{}],"limits":{}}})", json_str{t.name},
                       json_str{t.kind}, json_str{t.version}, steps, limits_json(t.limits));
}

std::string build_event(std::string_view type, const BuildRecord& b) {
    return fmt::format(R"({{"type":{},"build":{}}})", json_str{type}, build_json(b));
}

std::string package_event(const PackageRecord& p, const std::vector<BuildRecord>& builds) {
    return fmt::format(R"({{"type":"submitted","package":{}}})", package_json(p, builds));
}

std::string badge_svg(std::string_view status) {
    std::string_view colour = status == "passing"   ? "#4c1"
                              : status == "failing" ? "#e05d44"
                              : status == "running" ? "#dfb317"
                                                    : "#9f9f9f";
    // Widths from a 7 px per character estimate of Verdana 11, as badge services do.
    int left = 37;
    int right = static_cast<int>(status.size()) * 7 + 10;
    return fmt::format(
        R"(<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="20" role="img" aria-label="build: {3}">)"
        R"(<title>build: {3}</title><rect width="{1}" height="20" fill="#555"/>)"
        R"(<rect x="{1}" width="{2}" height="20" fill="{4}"/>)"
        R"(<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">)"
        R"(<text x="{5}" y="14">build</text><text x="{6}" y="14">{3}</text></g></svg>)",
        left + right, left, right, status, colour, left / 2, left + right / 2);
}

}  // namespace br
