// validate.hpp: checks on everything a client sends, before anything is written. Pure
// functions: each returns "" when the value is acceptable, else a message for the client
// that names what is wrong.
#pragma once

#include <string>
#include <string_view>

namespace br {

// 1-64 of [A-Za-z0-9._-], starting with a letter or digit; no "..".
std::string check_package_name(std::string_view name);
// https://, http://, git://, ssh:// or file:// URLs only; no leading '-', no whitespace or
// control characters, no "ext::"/"fd::" transports, at most 2048 bytes. A file:// URL must
// name an absolute path with no ".." segment that exists and is a git repository (a
// directory with HEAD and objects/, or a .git/ directory), so file:///etc is refused.
std::string check_repo_url(std::string_view url);
// "" (HEAD), a 40-hex sha, or a ref name git accepts (git check-ref-format rules: no "..",
// no leading '-', no control chars, space, ~ ^ : ? * [ \\, no "@{", not ending in "." or
// ".lock", at most 255 bytes).
std::string check_ref(std::string_view ref);
// -100..100.
std::string check_priority(long long priority);

}  // namespace br
