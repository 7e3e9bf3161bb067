/*
 * dfer_fuzz_driver: runs libFuzzer against a .NET fuzz target instrumented by SharpFuzz.
 *
 * libFuzzer lives in this native process; the code under test lives in a separate .NET process
 * (tests/Dfer.Fuzz, started with SharpFuzz's Fuzzer.LibFuzzer.Run). The two talk over one System V
 * shared-memory segment and two anonymous pipes, whose ids the .NET side reads from environment
 * variables:
 *
 *   __LIBFUZZER_SHM_ID           the segment: COVERAGE_BYTES of edge counters that the instrumented
 *                                assemblies bump, followed by the input bytes
 *   __LIBFUZZER_CONTROL_PIPE_ID  fd the .NET side reads from: one little-endian int32 per input,
 *                                its length (the bytes are already in the segment)
 *   __LIBFUZZER_STATUS_PIPE_ID   fd the .NET side writes to: one int32 once it is ready, then one
 *                                per input, 0 when the input ran cleanly, non-zero when an exception
 *                                escaped the target (it prints the exception to stderr and exits)
 *
 * After each input the counters are copied into a section that libFuzzer scans as extra coverage
 * counters, so new edges in the managed code count as new coverage.
 *
 * What counts as a finding, and how it is reported to libFuzzer (which then saves the input):
 *   - the target reports an exception          -> abort()   (libFuzzer: deadly signal, crash-*)
 *   - the .NET process dies (signal, exit,
 *     OOM kill, Environment.FailFast)           -> abort()   (crash-*)
 *   - its peak RSS passes --rss_limit_mb        -> abort()   (crash-*)
 *   - an input runs longer than -timeout        -> libFuzzer's own alarm (timeout-*); the .NET
 *                                                  process is killed with us (PR_SET_PDEATHSIG)
 *
 * Our own flags start with "--", which libFuzzer ignores:
 *   --exec=PROGRAM      the program to start (searched on PATH), e.g. dotnet
 *   --arg=VALUE         one argument for it; repeat in order (e.g. --arg=Dfer.Fuzz.dll --arg=npy)
 *   --rss_limit_mb=N    peak resident memory allowed to the .NET process (0 or absent: no check)
 *
 * The .NET process is started on the first input, not in LLVMFuzzerInitialize, so that libFuzzer
 * processes that never run an input themselves (the -jobs/-fork supervisors, -merge's parent) do
 * not each keep an idle runtime around.
 *
 * Build: clang-14 -O1 -g -fsanitize=fuzzer native/fuzz/dfer_fuzz_driver.c -o dfer-fuzz-driver
 * (scripts/fuzz.sh does this). See docs/fuzzing.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* SharpFuzz's edge map: 64 KiB of 8-bit counters at the start of the segment. */
#define COVERAGE_BYTES (1u << 16)
/* Largest input handed over; a larger one is skipped (returns -1: libFuzzer does not keep it). */
#define INPUT_CAPACITY (8u << 20)
#define MAX_CHILD_ARGS 32

/* libFuzzer collects the bounds of this section (__start_/__stop_ symbols) and treats each byte as
   a coverage counter, next to the counters of its own instrumentation. */
__attribute__((used, section("__libfuzzer_extra_counters")))
static uint8_t managed_coverage[COVERAGE_BYTES];

static struct
{
    const char *exec;
    const char *args[MAX_CHILD_ARGS + 2]; /* argv for the child: exec, args..., NULL */
    int arg_count;
    long rss_limit_mb;
} config;

static struct
{
    pid_t pid;       /* 0 until started */
    int control_fd;  /* we write input lengths here */
    int status_fd;   /* we read outcomes here */
    uint8_t *shared; /* COVERAGE_BYTES of counters, then the input */
} dotnet;

__attribute__((noreturn)) static void fail_setup(const char *what)
{
    fprintf(stderr, "dfer-fuzz-driver: %s: %s\n", what, strerror(errno));
    exit(2);
}

static const char *flag_value(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && arg[n] == '=' ? arg + n + 1 : NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    config.args[0] = NULL;
    for (int i = 1; i < *argc; i++)
    {
        const char *arg = (*argv)[i], *v;
        if ((v = flag_value(arg, "--exec")))
            config.exec = v;
        else if ((v = flag_value(arg, "--arg")))
        {
            if (config.arg_count == MAX_CHILD_ARGS)
            {
                fprintf(stderr, "dfer-fuzz-driver: more than %d --arg flags\n", MAX_CHILD_ARGS);
                exit(2);
            }
            config.args[1 + config.arg_count++] = v;
        }
        else if ((v = flag_value(arg, "--rss_limit_mb")))
            config.rss_limit_mb = strtol(v, NULL, 10);
    }
    if (!config.exec)
    {
        fprintf(stderr, "dfer-fuzz-driver: name the .NET program with --exec=PROGRAM [--arg=ARG ...]\n");
        exit(2);
    }
    config.args[0] = config.exec;
    config.args[1 + config.arg_count] = NULL;
    /* A write to the control pipe of a process that just died must come back as EPIPE, to be
       reported as a finding, not kill us silently. */
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* Reads exactly n bytes; returns 0 on success, -1 at end of file (the writer is gone). */
static int read_exactly(int fd, void *buffer, size_t n)
{
    uint8_t *p = buffer;
    while (n > 0)
    {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            fail_setup("reading the status pipe");
        if (got == 0)
            return -1;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

/* Writes exactly n bytes; returns 0 on success, -1 when the reader is gone. */
static int write_exactly(int fd, const void *buffer, size_t n)
{
    const uint8_t *p = buffer;
    while (n > 0)
    {
        ssize_t put = write(fd, p, n);
        if (put < 0 && errno == EINTR)
            continue;
        if (put < 0 && errno == EPIPE)
            return -1;
        if (put < 0)
            fail_setup("writing the control pipe");
        p += put;
        n -= (size_t)put;
    }
    return 0;
}

/* Says how the .NET process ended and reports the current input as a crash. */
__attribute__((noreturn)) static void report_death(void)
{
    int status = 0;
    pid_t r;
    while ((r = waitpid(dotnet.pid, &status, 0)) < 0 && errno == EINTR)
        ;
    if (r == dotnet.pid && WIFSIGNALED(status))
        fprintf(stderr, "dfer-fuzz-driver: the .NET process was killed by signal %d on this input\n", WTERMSIG(status));
    else if (r == dotnet.pid && WIFEXITED(status))
        fprintf(stderr, "dfer-fuzz-driver: the .NET process exited with code %d on this input\n", WEXITSTATUS(status));
    else
        fprintf(stderr, "dfer-fuzz-driver: the .NET process went away on this input\n");
    abort();
}

static void start_dotnet(void)
{
    int control[2], status[2];
    if (pipe(control) != 0 || pipe(status) != 0)
        fail_setup("pipe");
    int shm = shmget(IPC_PRIVATE, COVERAGE_BYTES + INPUT_CAPACITY, IPC_CREAT | IPC_EXCL | 0600);
    if (shm < 0)
        fail_setup("shmget");
    dotnet.shared = shmat(shm, NULL, 0);
    if (dotnet.shared == (void *)-1)
    {
        shmctl(shm, IPC_RMID, NULL);
        fail_setup("shmat");
    }

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
    {
        shmctl(shm, IPC_RMID, NULL);
        fail_setup("fork");
    }
    if (pid == 0)
    {
        /* Die with the driver, whichever way it goes (libFuzzer leaves by _Exit on a timeout). */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        close(control[1]);
        close(status[0]);
        char text[3][16];
        snprintf(text[0], sizeof text[0], "%d", shm);
        snprintf(text[1], sizeof text[1], "%d", control[0]);
        snprintf(text[2], sizeof text[2], "%d", status[1]);
        setenv("__LIBFUZZER_SHM_ID", text[0], 1);
        setenv("__LIBFUZZER_CONTROL_PIPE_ID", text[1], 1);
        setenv("__LIBFUZZER_STATUS_PIPE_ID", text[2], 1);
        execvp(config.exec, (char *const *)config.args);
        fprintf(stderr, "dfer-fuzz-driver: cannot start %s: %s\n", config.exec, strerror(errno));
        _exit(127);
    }

    close(control[0]);
    close(status[1]);
    dotnet.pid = pid;
    dotnet.control_fd = control[1];
    dotnet.status_fd = status[0];

    int32_t ready;
    int alive = read_exactly(dotnet.status_fd, &ready, sizeof ready) == 0;
    /* Both sides are attached now (or the child is gone): the segment can be marked for removal,
       so it disappears with the last detach however either process ends. */
    shmctl(shm, IPC_RMID, NULL);
    if (!alive)
    {
        int st = 0;
        waitpid(pid, &st, 0);
        fprintf(stderr, "dfer-fuzz-driver: %s ended before it was ready (%s %d); is it a SharpFuzz "
                        "LibFuzzer.Run target?\n",
                config.exec, WIFSIGNALED(st) ? "signal" : "exit code", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
        exit(2);
    }
}

/* Peak resident set of the .NET process in MiB (VmHWM), or -1 if it cannot be read. */
static long dotnet_peak_rss_mb(void)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)dotnet.pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
    {
        if (strncmp(line, "VmHWM:", 6) == 0)
        {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb < 0 ? -1 : kb / 1024;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > INPUT_CAPACITY)
        return -1;
    if (dotnet.pid == 0)
        start_dotnet();

    memset(dotnet.shared, 0, COVERAGE_BYTES);
    if (size > 0)
        memcpy(dotnet.shared + COVERAGE_BYTES, data, size);

    int32_t length = (int32_t)size, outcome = 0;
    if (write_exactly(dotnet.control_fd, &length, sizeof length) != 0 ||
        read_exactly(dotnet.status_fd, &outcome, sizeof outcome) != 0)
        report_death();

    memcpy(managed_coverage, dotnet.shared, COVERAGE_BYTES);

    if (outcome != 0)
    {
        fprintf(stderr, "dfer-fuzz-driver: the target let an exception escape on this input (status %d; "
                        "the exception is printed above)\n", (int)outcome);
        abort();
    }
    if (config.rss_limit_mb > 0)
    {
        long peak = dotnet_peak_rss_mb();
        if (peak > config.rss_limit_mb)
        {
            fprintf(stderr, "dfer-fuzz-driver: the .NET process's peak RSS reached %ld MiB, over the "
                            "--rss_limit_mb=%ld limit, on this input\n", peak, config.rss_limit_mb);
            abort();
        }
    }
    return 0;
}
