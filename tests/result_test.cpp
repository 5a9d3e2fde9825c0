// Tests for dally/result.hpp: Result<T> and Result<void>.
#include <cerrno>
#include <dally/result.hpp>
#include <memory>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include "test_support.hpp"

namespace {

using dally::Result;

std::error_code err(std::errc e) { return std::make_error_code(e); }

TEST(Result, HoldsAValueAndReportsOk) {
    Result<int> r(42);
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(static_cast<bool>(r));
    EXPECT_FALSE(r.error());
    EXPECT_EQ(r.value(), 42);
    EXPECT_EQ(*r, 42);
    EXPECT_FALSE(r.timed_out());
    EXPECT_FALSE(r.cancelled());
}

TEST(Result, HoldsAnErrorAndReportsNotOk) {
    Result<int> r(err(std::errc::connection_refused));
    EXPECT_FALSE(r.ok());
    EXPECT_FALSE(static_cast<bool>(r));
    EXPECT_EQ(r.error(), std::errc::connection_refused);
    EXPECT_FALSE(r.timed_out());
    EXPECT_FALSE(r.cancelled());
}

TEST(Result, ValueThrowsSystemErrorCarryingTheErrorCode) {
    Result<int> r(err(std::errc::connection_reset));
    try {
        (void)r.value();
        FAIL() << "value() of an error result did not throw";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::errc::connection_reset);
    }
    // The rvalue overload throws too.
    EXPECT_THROW((void)std::move(r).value(), std::system_error);
}

TEST(Result, ValueOfAnOkResultDoesNotThrow) {
    Result<std::string> r(std::string("abc"));
    EXPECT_NO_THROW((void)r.value());
    EXPECT_EQ(r->size(), 3U);
}

TEST(Result, KeepsThePartialValueNextToAnError) {
    Result<std::size_t> r(err(std::errc::timed_out), 4096);
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(r.timed_out());
    EXPECT_FALSE(r.cancelled());
    EXPECT_EQ(r.partial(), 4096U);
    EXPECT_THROW((void)r.value(), std::system_error);
}

TEST(Result, PartialOfAPlainErrorIsDefaultValue) {
    Result<std::size_t> r(err(std::errc::broken_pipe));
    EXPECT_EQ(r.partial(), 0U);
}

TEST(Result, PartialOfAnOkResultIsTheValue) {
    Result<std::size_t> r(std::size_t{17});
    EXPECT_EQ(r.partial(), 17U);
}

TEST(Result, TimedOutIsTrueOnlyForTimedOut) {
    EXPECT_TRUE(Result<int>(err(std::errc::timed_out)).timed_out());
    EXPECT_FALSE(Result<int>(err(std::errc::operation_canceled)).timed_out());
    EXPECT_FALSE(Result<int>(err(std::errc::resource_unavailable_try_again)).timed_out());
}

TEST(Result, CancelledIsTrueOnlyForOperationCanceled) {
    EXPECT_TRUE(Result<int>(err(std::errc::operation_canceled)).cancelled());
    EXPECT_FALSE(Result<int>(err(std::errc::timed_out)).cancelled());
    EXPECT_FALSE(Result<int>(1).cancelled());
}

TEST(Result, MovesAMoveOnlyValueOut) {
    Result<std::unique_ptr<int>> r(std::make_unique<int>(7));
    std::unique_ptr<int> p = std::move(r).value();
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, 7);
}

TEST(ResultVoid, DefaultIsOkAndValueDoesNotThrow) {
    Result<void> r;
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(static_cast<bool>(r));
    EXPECT_FALSE(r.error());
    EXPECT_NO_THROW(r.value());
    EXPECT_FALSE(r.timed_out());
    EXPECT_FALSE(r.cancelled());
}

TEST(ResultVoid, ErrorValueThrowsSystemError) {
    Result<void> r(err(std::errc::not_connected));
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.error(), std::errc::not_connected);
    try {
        r.value();
        FAIL() << "value() of an error Result<void> did not throw";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::errc::not_connected);
    }
}

// Has no default constructor: Result holds it only when there is one.
struct NoDefault {
    explicit NoDefault(int v) : value(v) {}
    int value;
};

TEST(Result, HoldsATypeWithoutADefaultConstructor) {
    Result<NoDefault> ok(NoDefault(7));
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(ok->value, 7);
    EXPECT_EQ(ok.value().value, 7);
    Result<NoDefault> moved = std::move(ok);
    EXPECT_EQ((*moved).value, 7);
    Result<NoDefault> failed(err(std::errc::broken_pipe));
    EXPECT_EQ(failed.error(), std::errc::broken_pipe);
    EXPECT_THROW((void)failed.value(), std::system_error);
    Result<NoDefault> with_partial(err(std::errc::timed_out), NoDefault(3));
    EXPECT_TRUE(with_partial.timed_out());
    EXPECT_EQ(with_partial->value, 3);
    static_assert(!std::is_default_constructible_v<NoDefault>);
}

TEST(ResultVoid, ReportsTimedOutAndCancelled) {
    Result<void> t(err(std::errc::timed_out));
    EXPECT_TRUE(t.timed_out());
    EXPECT_FALSE(t.cancelled());
    Result<void> c(err(std::errc::operation_canceled));
    EXPECT_TRUE(c.cancelled());
    EXPECT_FALSE(c.timed_out());
}

TEST(ErrnoCode, ConvertsNegativeAndPositiveErrnoToTheSameSystemCode) {
    EXPECT_EQ(dally::errno_code(-ECONNREFUSED), std::errc::connection_refused);
    EXPECT_EQ(dally::errno_code(ECONNREFUSED), std::errc::connection_refused);
    EXPECT_EQ(dally::errno_code(-ECANCELED), std::errc::operation_canceled);
    EXPECT_EQ(dally::errno_code(-EPIPE).category(), std::system_category());
    EXPECT_FALSE(dally::errno_code(0));
}

}  // namespace
