using Akka.Actor;
using Akka.Hosting;

namespace AkkaMail.Hosting;

public static class SchedulerStartup
{
    /// <summary>
    /// Starts Akka's scheduler on the hosting thread, before any actor of ours exists. Akka starts its timer worker
    /// on the first use of the scheduler and blocks the caller until the worker runs; when that first use happens
    /// in several actors at once on thread-pool threads (their PreStart timers, at startup), the callers can hold
    /// every pool thread the worker's start is waiting for. Seen with the pool capped at 3 threads: a hang for
    /// good, with three pool threads in <c>HashedWheelTimerScheduler.Start</c>; an uncapped pool only stalls until
    /// it adds a thread. Register it before the other actors.
    /// </summary>
    public static AkkaConfigurationBuilder WithSchedulerStarted(this AkkaConfigurationBuilder builder) =>
        builder.WithActors((system, _, _) => system.Scheduler.Advanced.ScheduleOnce(TimeSpan.Zero, static () => { }));
}
