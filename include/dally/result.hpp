// dally/result.hpp: the value-or-error type every I/O operation returns.
//
// I/O failures are values, not exceptions: `Result<T>` carries either a T or a
// std::error_code (system_category errno values, plus `std::errc::timed_out` for
// timeouts and `std::errc::operation_canceled` for cancellation). A result can
// carry both: a byte count that was transferred before an error (send_all, or a
// timed-out transfer) stays readable through `partial()`.
#pragma once

#include <cerrno>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

namespace dally {

// Converts a negative errno (as io_uring reports it) to an error_code.
inline std::error_code errno_code(int negative_or_positive_errno) noexcept {
    int e = negative_or_positive_errno < 0 ? -negative_or_positive_errno : negative_or_positive_errno;
    return {e, std::system_category()};
}

namespace detail {
[[noreturn]] void throw_result_error(const std::error_code& ec);
}

// T need not be default-constructible: such a T is held in a std::optional, so an error
// result made without a value holds none (then value() throws and operator* must not be
// used, and partial() does not exist). Other Ts are held directly, as I/O results are.
template <class T>
class [[nodiscard]] Result {
    static constexpr bool holds_plain = std::is_default_constructible_v<T>;

public:
    Result(T value) noexcept(std::is_nothrow_move_constructible_v<T>) : m_value(std::move(value)) {}
    Result(std::error_code ec) noexcept(!holds_plain || std::is_nothrow_default_constructible_v<T>)
        : m_error(ec) {}
    // An error together with the value produced before it (e.g. bytes sent).
    Result(std::error_code ec, T partial) noexcept(std::is_nothrow_move_constructible_v<T>)
        : m_value(std::move(partial)), m_error(ec) {}

    bool ok() const noexcept { return !m_error; }
    explicit operator bool() const noexcept { return ok(); }
    const std::error_code& error() const noexcept { return m_error; }

    // The value; throws std::system_error if the result is an error.
    T& value() & {
        if (m_error) detail::throw_result_error(m_error);
        return get();
    }
    T&& value() && {
        if (m_error) detail::throw_result_error(m_error);
        return std::move(get());
    }
    const T& value() const& {
        if (m_error) detail::throw_result_error(m_error);
        return get();
    }
    // Unchecked access (the value of an error result is the partial value).
    T& operator*() & noexcept { return get(); }
    const T& operator*() const& noexcept { return get(); }
    T&& operator*() && noexcept { return std::move(get()); }
    T* operator->() noexcept { return &get(); }
    const T* operator->() const noexcept { return &get(); }

    // The value stored even on error: for byte counts, what was transferred before it.
    const T& partial() const noexcept
        requires holds_plain
    {
        return m_value;
    }

    bool timed_out() const noexcept { return m_error == std::errc::timed_out; }
    bool cancelled() const noexcept { return m_error == std::errc::operation_canceled; }

private:
    T& get() noexcept {
        if constexpr (holds_plain) {
            return m_value;
        } else {
            return *m_value;
        }
    }
    const T& get() const noexcept {
        if constexpr (holds_plain) {
            return m_value;
        } else {
            return *m_value;
        }
    }

    std::conditional_t<holds_plain, T, std::optional<T>> m_value{};
    std::error_code m_error{};
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() noexcept = default;
    Result(std::error_code ec) noexcept : m_error(ec) {}
    bool ok() const noexcept { return !m_error; }
    explicit operator bool() const noexcept { return ok(); }
    const std::error_code& error() const noexcept { return m_error; }
    void value() const {
        if (m_error) detail::throw_result_error(m_error);
    }
    bool timed_out() const noexcept { return m_error == std::errc::timed_out; }
    bool cancelled() const noexcept { return m_error == std::errc::operation_canceled; }

private:
    std::error_code m_error{};
};

}  // namespace dally
