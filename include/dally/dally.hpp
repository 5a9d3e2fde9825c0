// dally/dally.hpp: the whole public API of dally in one include.
#pragma once

#include "dally/blocking.hpp"
#include "dally/cancel.hpp"
#include "dally/executor.hpp"
#include "dally/fs.hpp"
#include "dally/net.hpp"
#include "dally/process.hpp"
#include "dally/result.hpp"
#include "dally/runtime.hpp"
#include "dally/scope.hpp"
#include "dally/signal.hpp"
#include "dally/sync.hpp"
#include "dally/task.hpp"
#include "dally/time.hpp"
#include "dally/when.hpp"
