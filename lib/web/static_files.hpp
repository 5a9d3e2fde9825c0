// Static file serving for Router::static_files. Internal to dally::web.
#pragma once

#include "dally/task.hpp"
#include "dally/web/http.hpp"
#include "dally/web/router.hpp"

#include <filesystem>

namespace dally::web::detail {

// Serves files below one root directory. Opening goes through openat2(RESOLVE_BENEATH)
// relative to the root's descriptor, so neither "..", nor its encoded forms, nor a symlink
// can reach outside the root, whatever the path checks before it miss.
class StaticFiles {
public:
    // Throws std::system_error if `root` is not a readable directory.
    StaticFiles(std::filesystem::path root, StaticOptions options);
    ~StaticFiles();
    StaticFiles(const StaticFiles&) = delete;
    StaticFiles& operator=(const StaticFiles&) = delete;

    // GET/HEAD of request.param("path"), relative to the root.
    Task<Response> serve(Request& request) const;

private:
    int m_root = -1;
    StaticOptions m_options;
};

}  // namespace dally::web::detail
