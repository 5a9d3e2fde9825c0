// views.hpp: the JSON documents of the API (docs/build-runner-api.md), written with fmt and
// dally::web::json_str so that no name, URL or log line can break them.
#pragma once

#include "executor.hpp"
#include "model.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace br {

std::string build_json(const BuildRecord& b);
// The package with its builds (and "build_ids" when `with_ids`).
std::string package_json(const PackageRecord& p, const std::vector<BuildRecord>& builds, bool with_ids = false);
std::string limits_json(const Limits& l);
std::string toolchain_json(const Toolchain& t);
// {"type": type, "build": Build}
std::string build_event(std::string_view type, const BuildRecord& b);
// {"type":"submitted","package": Package}
std::string package_event(const PackageRecord& p, const std::vector<BuildRecord>& builds);
// A shields-style SVG badge: "build | <status>".
std::string badge_svg(std::string_view status);

}  // namespace br
