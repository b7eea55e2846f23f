// actors/actor_system.hpp — how every Sluice process configures its CAF actor system: worker threads, throughput per turn, scheduler policy.
#pragma once

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>

#include <cstddef>

namespace sluice::runtime {

/// Sets `threads` workers that each handle up to `max_throughput` messages of an actor per
/// turn, quiet CAF logging, and the sharing scheduler: one queue all workers wait on, so an
/// actor that becomes ready runs on the next free worker. CAF 0.17's default work-stealing
/// policy puts an actor woken by another onto the waker's own queue; a worker that found no
/// work for a while sleeps 10 ms between attempts to steal, so a source and the task it
/// feeds took turns on one worker while another core idled (q5 and q11 at parallelism 1
/// were 20-30 % slower, and parallelism 2 scaled 1.6-1.8x instead of ~2x on 16 cores).
/// Tasks hand each other whole frames, so the shared queue's lock is taken a few thousand
/// times a second, not per record.
inline void configure_actor_system(caf::actor_system_config& cfg, std::size_t threads, std::size_t max_throughput = 0) {
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("scheduler.max-threads", threads);
  if (max_throughput > 0) cfg.set("scheduler.max-throughput", max_throughput);
  cfg.set("logger.verbosity", caf::atom("quiet"));
}

}  // namespace sluice::runtime
