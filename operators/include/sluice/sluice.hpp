// operators/include/sluice/sluice.hpp — everything a job needs: include this one header.
#pragma once

#include "sluice/codec.hpp"
#include "sluice/config.hpp"
#include "sluice/connected.hpp"
#include "sluice/error.hpp"
#include "sluice/executor.hpp"
#include "sluice/format.hpp"
#include "sluice/full_partition.hpp"
#include "sluice/functions.hpp"
#include "sluice/job.hpp"
#include "sluice/joins.hpp"
#include "sluice/probe.hpp"
#include "sluice/sinks.hpp"
#include "sluice/sources.hpp"
#include "sluice/state.hpp"
#include "sluice/stream.hpp"
#include "sluice/watermarks.hpp"
