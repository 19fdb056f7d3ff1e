/*
 * faas sandbox agent: the main process of every instance container.
 *
 * It runs the commands the server asks for and streams their output back, over the container's
 * own stdin/stdout (the engine's attach stream), so an exec costs one round trip on an open
 * connection instead of the engine's exec API (create, start, inspect: ~45 ms under runc).
 * Because the channel is plain stdio, a gVisor checkpoint restores it with the container.
 *
 * It also watches /workspace with inotify (file events) and reads JSON lines that processes
 * write to a FIFO (custom events). Built static (`gcc -static`) so it runs in any image.
 * The frame format is in PROTOCOL.md beside this file.
 *
 * Privileges: the container starts it as root with only CAP_SETUID and CAP_SETGID (and
 * no-new-privileges). It starts every process as the sandbox user (argv[2], uid:gid), which
 * drops every capability, and keeps its own uid 0 and those two capabilities: it needs them for
 * every later exec, and a non-root uid holding CAP_SETUID could become root again anyway. So no
 * sandbox process shares its uid: none can open /proc/<agent>/fd/1 (the server's channel),
 * ptrace it or signal it. It is also not dumpable, so even a root process without
 * CAP_SYS_PTRACE cannot reach into it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utmp.h>

#define MAX_PROCS 256
#define MAX_WATCHES 8192
#define READ_CHUNK 32768
#define MAX_FRAME (16u * 1024 * 1024)
#define MAX_PENDING_STDIN (8u * 1024 * 1024)
#define EVENT_LINE_MAX 65536
/* Output credit a flow-controlled process may hold (the server grants far less at a time). */
#define MAX_CREDIT (1u << 30)
/* After a process exits, how long its output pipes may stay open (a background child holding
 * them) before the exit is reported anyway. */
#define EXIT_GRACE_MS 200

enum {
  REQ_EXEC = 'X',
  REQ_STDIN = 'I',
  REQ_SIGNAL = 'K',
  REQ_RESIZE = 'R',
  REQ_PING = 'P',
  REQ_CREDIT = 'A',
  EV_STARTED = 'S',
  EV_STDOUT = 'O',
  EV_STDERR = 'E',
  EV_EXIT = 'Z',
  EV_FILE = 'F',
  EV_CUSTOM = 'C',
  EV_PONG = 'p',
  EV_LOG = 'L',
  EV_STDIN_TAKEN = 'W',
};

/* Exec flags (the first byte of an exec request). */
#define EXEC_TTY 1
#define EXEC_FLOW 2

struct proc {
  int used;
  uint32_t id;
  pid_t pid;
  int out_fd, err_fd, in_fd; /* -1 when closed; with a tty out_fd is the pty master */
  int tty;
  /* Flow control: output only while credit lasts; stdin taken is reported. */
  int flow;
  uint32_t credit;
  int exited;
  int status;
  int64_t exit_deadline;
  char *pending; /* stdin not yet accepted by the process */
  size_t pending_len;
  int close_after_pending;
};

static struct proc procs[MAX_PROCS];
static char *watch_paths[MAX_WATCHES];
static int inotify_fd = -1;
static int events_fd = -1;
static char events_line[EVENT_LINE_MAX];
static size_t events_line_len;
static const char *workdir = "/workspace";
static uid_t sandbox_uid = 65534;
static gid_t sandbox_gid = 65534;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd w = {.fd = fd, .events = POLLOUT};
        poll(&w, 1, -1);
        continue;
      }
      /* The server is gone: nothing to report to. */
      _exit(0);
    }
    p += n;
    len -= (size_t)n;
  }
}

static void put_u32(unsigned char *p, uint32_t v) {
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t get_u16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static void send_frame2(char type, uint32_t id, const void *a, size_t alen, const void *b, size_t blen) {
  unsigned char head[9];
  head[0] = (unsigned char)type;
  put_u32(head + 1, id);
  put_u32(head + 5, (uint32_t)(alen + blen));
  write_all(1, head, sizeof head);
  if (alen) write_all(1, a, alen);
  if (blen) write_all(1, b, blen);
}

static void send_frame(char type, uint32_t id, const void *data, size_t len) {
  send_frame2(type, id, data, len, NULL, 0);
}

static void send_log(const char *message) { send_frame(EV_LOG, 0, message, strlen(message)); }

static struct proc *find_proc(uint32_t id) {
  for (int i = 0; i < MAX_PROCS; i++)
    if (procs[i].used && procs[i].id == id) return &procs[i];
  return NULL;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

/* Acts as the sandbox user for a moment (its uid stays 0, so it can come back). While the
 * effective uid is not 0 its effective capabilities are empty; they return with it. */
static int as_sandbox_user(void) { return setresgid(-1, sandbox_gid, -1) || setresuid(-1, sandbox_uid, -1); }
static void as_agent(void) {
  if (setresuid(-1, 0, -1) || setresgid(-1, 0, -1)) {
    /* Cannot happen with uid 0 kept; if it did, every later exec would run with the wrong ids. */
    _exit(3);
  }
}

/* Signals a process group (or the process): the agent has no CAP_KILL, and a signal needs the
 * sender's uid to match the target's, so it is sent as the sandbox user. */
static void signal_process(pid_t pid, int signo) {
  if (as_sandbox_user() == 0) {
    if (kill(-pid, signo) != 0) kill(pid, signo);
  }
  as_agent();
}

/* In a new child: becomes the sandbox user for good (every capability goes with uid 0). */
static int drop_to_sandbox_user(void) {
  if (setgroups(0, NULL) || setresgid(sandbox_gid, sandbox_gid, sandbox_gid) ||
      setresuid(sandbox_uid, sandbox_uid, sandbox_uid))
    return -1;
  return getuid() == sandbox_uid && geteuid() == sandbox_uid ? 0 : -1;
}

static uint32_t unread_bytes(int fd) {
  int n = 0;
  return fd >= 0 && ioctl(fd, FIONREAD, &n) == 0 && n > 0 ? (uint32_t)n : 0;
}

/* A flow-controlled process that exited with output still in its pipes waits for credit; the
 * exit grace (for pipes held by background children) does not cut that output. */
static int awaiting_credit(struct proc *p) {
  return p->flow && p->credit == 0 && (unread_bytes(p->out_fd) > 0 || unread_bytes(p->err_fd) > 0);
}

/* Reports the exit once the output is drained (or the grace time passed), then frees the slot. */
static void maybe_finish(struct proc *p, int force) {
  if (!p->exited) return;
  if (!force && (p->out_fd >= 0 || p->err_fd >= 0)) return;
  close_fd(&p->out_fd);
  close_fd(&p->err_fd);
  if (p->in_fd >= 0 && !p->tty) close(p->in_fd);
  p->in_fd = -1;
  int code = WIFEXITED(p->status) ? WEXITSTATUS(p->status) : 128 + WTERMSIG(p->status);
  unsigned char buf[4];
  put_u32(buf, (uint32_t)code);
  send_frame(EV_EXIT, p->id, buf, 4);
  free(p->pending);
  memset(p, 0, sizeof *p);
}

static void exec_failed(uint32_t id, const char *why) {
  send_frame(EV_STDERR, id, why, strlen(why));
  unsigned char buf[4];
  put_u32(buf, 127);
  send_frame(EV_EXIT, id, buf, 4);
}

/* payload: u8 flags (1 tty), u16 rows, u16 cols, u16 argc, u16 envc, then NUL-terminated cwd,
 * argv[argc], env[envc] ("NAME=value", added to the agent's own environment). */
static void do_exec(uint32_t id, const unsigned char *payload, uint32_t len) {
  if (len < 9) {
    exec_failed(id, "faas-agent: malformed exec request\n");
    return;
  }
  int tty = payload[0] & EXEC_TTY;
  int flow = (payload[0] & EXEC_FLOW) != 0;
  struct winsize ws = {.ws_row = get_u16(payload + 1), .ws_col = get_u16(payload + 3)};
  int argc = get_u16(payload + 5), envc = get_u16(payload + 7);
  char **strings = calloc((size_t)argc + envc + 2, sizeof(char *));
  const char *p = (const char *)payload + 9, *end = (const char *)payload + len;
  for (int i = 0; i < 1 + argc + envc; i++) {
    const char *nul = memchr(p, 0, (size_t)(end - p));
    if (!nul) {
      free(strings);
      { exec_failed(id, "faas-agent: malformed exec request\n"); return; }
    }
    strings[i] = (char *)p;
    p = nul + 1;
  }
  if (argc == 0 || find_proc(id)) {
    free(strings);
    { exec_failed(id, "faas-agent: empty command or id in use\n"); return; }
  }
  struct proc *slot = NULL;
  for (int i = 0; i < MAX_PROCS && !slot; i++)
    if (!procs[i].used) slot = &procs[i];
  if (!slot) {
    free(strings);
    { exec_failed(id, "faas-agent: too many processes started through the agent\n"); return; }
  }
  const char *cwd = strings[0];
  char **argv = calloc((size_t)argc + 1, sizeof(char *));
  for (int i = 0; i < argc; i++) argv[i] = strings[1 + i];

  int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1}, master = -1, slave = -1;
  pid_t pid;
  if (tty) {
    /* Opened as the sandbox user, so the terminal belongs to the process that uses it. */
    int opened = as_sandbox_user() == 0 && openpty(&master, &slave, NULL, NULL, ws.ws_row && ws.ws_col ? &ws : NULL) == 0;
    as_agent();
    if (!opened) {
      free(argv);
      free(strings);
      { exec_failed(id, "faas-agent: no terminal available\n"); return; }
    }
    pid = fork();
  } else {
    if (pipe2(in_pipe, O_CLOEXEC) || pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC)) {
      free(argv);
      free(strings);
      { exec_failed(id, "faas-agent: out of file descriptors\n"); return; }
    }
    pid = fork();
  }
  if (pid == 0) {
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (tty) {
      close(master);
      if (login_tty(slave) != 0) _exit(126);
    } else {
      setsid();
      dup2(in_pipe[0], 0);
      dup2(out_pipe[1], 1);
      dup2(err_pipe[1], 2);
    }
    if (drop_to_sandbox_user() != 0) {
      dprintf(2, "faas-agent: cannot become the sandbox user %u:%u: %s\n", (unsigned)sandbox_uid,
              (unsigned)sandbox_gid, strerror(errno));
      _exit(126);
    }
    for (int i = 0; i < envc; i++) putenv(strings[1 + argc + i]);
    if (cwd[0] && chdir(cwd) != 0) {
      dprintf(2, "faas-agent: cannot enter %s: %s\n", cwd, strerror(errno));
      _exit(126);
    }
    execvp(argv[0], argv);
    dprintf(2, "faas-agent: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }
  free(argv);
  free(strings);
  close_fd(&slave);
  if (pid < 0) {
    close_fd(&in_pipe[0]), close_fd(&in_pipe[1]), close_fd(&out_pipe[0]), close_fd(&out_pipe[1]);
    close_fd(&err_pipe[0]), close_fd(&err_pipe[1]), close_fd(&master);
    { exec_failed(id, "faas-agent: fork failed (pids limit?)\n"); return; }
  }
  memset(slot, 0, sizeof *slot);
  slot->used = 1;
  slot->id = id;
  slot->pid = pid;
  slot->tty = tty;
  slot->flow = flow;
  if (tty) {
    fcntl(master, F_SETFD, FD_CLOEXEC);
    slot->out_fd = master;
    slot->in_fd = master;
    slot->err_fd = -1;
  } else {
    close(in_pipe[0]), close(out_pipe[1]), close(err_pipe[1]);
    slot->in_fd = in_pipe[1];
    slot->out_fd = out_pipe[0];
    slot->err_fd = err_pipe[0];
  }
  set_nonblock(slot->in_fd);
  unsigned char buf[4];
  put_u32(buf, (uint32_t)pid);
  send_frame(EV_STARTED, id, buf, 4);
}

static void report_taken(struct proc *p, size_t taken) {
  if (!p->flow || taken == 0) return;
  unsigned char buf[4];
  put_u32(buf, (uint32_t)taken);
  send_frame(EV_STDIN_TAKEN, p->id, buf, 4);
}

static void flush_stdin(struct proc *p) {
  size_t taken = 0;
  while (p->pending_len > 0 && p->in_fd >= 0) {
    ssize_t n = write(p->in_fd, p->pending, p->pending_len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      /* The process closed its stdin: what it did not read is dropped, as with a pipe. */
      taken += p->pending_len;
      p->pending_len = 0;
      break;
    }
    memmove(p->pending, p->pending + n, p->pending_len - (size_t)n);
    p->pending_len -= (size_t)n;
    taken += (size_t)n;
  }
  report_taken(p, taken);
  if (p->pending_len == 0 && p->close_after_pending && !p->tty) close_fd(&p->in_fd);
}

static void do_stdin(uint32_t id, const unsigned char *data, uint32_t len) {
  struct proc *p = find_proc(id);
  if (!p) return;
  if (p->in_fd < 0) {
    /* Its stdin is closed: the bytes are dropped, and said to be taken so no sender waits. */
    report_taken(p, len);
    return;
  }
  if (len == 0) {
    if (p->tty) {
      /* A terminal's end of input is ^D. */
      static const unsigned char eot = 4;
      data = &eot, len = 1;
    } else {
      p->close_after_pending = 1;
      flush_stdin(p);
      return;
    }
  }
  if (p->pending_len + len > MAX_PENDING_STDIN) {
    send_log("faas-agent: stdin buffer full, input dropped");
    report_taken(p, len);
    return;
  }
  p->pending = realloc(p->pending, p->pending_len + len);
  memcpy(p->pending + p->pending_len, data, len);
  p->pending_len += len;
  flush_stdin(p);
}

static void add_watch_tree(const char *path);

static void report_file(char kind, const char *path) { send_frame2(EV_FILE, 0, &kind, 1, path, strlen(path)); }

static void add_watch(const char *path) {
  int wd = inotify_add_watch(inotify_fd, path,
                             IN_CREATE | IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                                 IN_ONLYDIR | IN_DONT_FOLLOW);
  if (wd < 0 || wd >= MAX_WATCHES) return;
  free(watch_paths[wd]);
  watch_paths[wd] = strdup(path);
}

/* Watches a folder and everything below it; `announce` reports what is already there as created
 * (a folder moved or made with contents before its watch existed). */
static void add_tree(const char *path, int announce) {
  add_watch(path);
  DIR *dir = opendir(path);
  if (!dir) return;
  struct dirent *entry;
  while ((entry = readdir(dir))) {
    if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, "..")) continue;
    char child[4096];
    if (snprintf(child, sizeof child, "%s/%s", path, entry->d_name) >= (int)sizeof child) continue;
    if (announce) report_file('c', child);
    struct stat st;
    if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode)) add_tree(child, announce);
  }
  closedir(dir);
}

static void add_watch_tree(const char *path) { add_tree(path, 0); }

static void read_inotify(void) {
  char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
  ssize_t n = read(inotify_fd, buf, sizeof buf);
  for (char *p = buf; n > 0 && p < buf + n;) {
    struct inotify_event *ev = (struct inotify_event *)p;
    p += sizeof *ev + ev->len;
    if (ev->wd < 0 || ev->wd >= MAX_WATCHES || !watch_paths[ev->wd] || ev->len == 0) continue;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", watch_paths[ev->wd], ev->name) >= (int)sizeof path) continue;
    if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
      report_file('c', path);
      if (ev->mask & IN_ISDIR) add_tree(path, 1);
    } else if (ev->mask & IN_CLOSE_WRITE) {
      report_file('m', path);
    } else if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
      report_file('d', path);
    }
  }
}

static void read_events_fifo(void) {
  char buf[8192];
  ssize_t n = read(events_fd, buf, sizeof buf);
  for (ssize_t i = 0; i < n; i++) {
    if (buf[i] == '\n') {
      if (events_line_len > 0) send_frame(EV_CUSTOM, 0, events_line, events_line_len);
      events_line_len = 0;
    } else if (events_line_len < EVENT_LINE_MAX) {
      events_line[events_line_len++] = buf[i];
    }
  }
}

static void forward_output(struct proc *p, int *fd, char type) {
  char buf[READ_CHUNK];
  size_t want = sizeof buf;
  if (p->flow) {
    if (p->credit == 0) return;
    if (want > p->credit) want = p->credit;
  }
  ssize_t n = read(*fd, buf, want);
  if (n > 0) {
    if (p->flow) p->credit -= (uint32_t)n;
    send_frame(type, p->id, buf, (size_t)n);
    return;
  }
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  /* EOF (or EIO: a terminal whose last writer is gone). */
  if (p->tty) p->in_fd = -1;
  close_fd(fd);
  maybe_finish(p, 0);
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (int i = 0; i < MAX_PROCS; i++) {
      if (procs[i].used && procs[i].pid == pid) {
        procs[i].exited = 1;
        procs[i].status = status;
        procs[i].exit_deadline = now_ms() + EXIT_GRACE_MS;
        maybe_finish(&procs[i], 0);
      }
    }
  }
}

static void handle_frame(char type, uint32_t id, const unsigned char *payload, uint32_t len) {
  struct proc *p;
  switch (type) {
    case REQ_EXEC:
      do_exec(id, payload, len);
      break;
    case REQ_STDIN:
      do_stdin(id, payload, len);
      break;
    case REQ_SIGNAL:
      if (len >= 1 && (p = find_proc(id)) && !p->exited) {
        /* The whole group: a shell's children go too. */
        signal_process(p->pid, payload[0]);
      }
      break;
    case REQ_CREDIT:
      if (len == 4 && (p = find_proc(id)) && p->flow) {
        uint32_t more = get_u32(payload);
        p->credit = more > MAX_CREDIT - p->credit ? MAX_CREDIT : p->credit + more;
      }
      break;
    case REQ_RESIZE:
      if (len >= 4 && (p = find_proc(id)) && p->tty && p->out_fd >= 0) {
        struct winsize ws = {.ws_row = get_u16(payload), .ws_col = get_u16(payload + 2)};
        ioctl(p->out_fd, TIOCSWINSZ, &ws);
      }
      break;
    case REQ_PING:
      send_frame(EV_PONG, id, payload, len);
      break;
    default:
      send_log("faas-agent: unknown request type");
  }
}

int main(int argc, char **argv) {
  if (argc > 1) workdir = argv[1];
  if (argc > 2) {
    unsigned uid, gid;
    if (sscanf(argv[2], "%u:%u", &uid, &gid) != 2 || uid == 0) {
      dprintf(2, "faas-agent: the sandbox user must be uid:gid, not root\n");
      return 2;
    }
    sandbox_uid = uid, sandbox_gid = gid;
  }
  if (getuid() != 0 || geteuid() != 0) {
    /* Run as the sandbox user, its processes could write to its stdout: refuse. */
    dprintf(2, "faas-agent: must start as root (with CAP_SETUID and CAP_SETGID only)\n");
    return 2;
  }
  /* Not dumpable: /proc/<pid> becomes root's alone, and no ptrace without CAP_SYS_PTRACE. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  const char *events_path = getenv("FAAS_EVENTS");
  signal(SIGPIPE, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sig_fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);

  inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd >= 0) add_watch_tree(workdir);
  if (events_path && (mkfifo(events_path, 0622) == 0 || errno == EEXIST)) {
    /* Any process may write events; only the agent reads them. */
    chmod(events_path, 0622);
    /* Opened read-write so the FIFO never reports end-of-file between writers. */
    events_fd = open(events_path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  }
  fcntl(0, F_SETFD, FD_CLOEXEC);
  fcntl(1, F_SETFD, FD_CLOEXEC);
  send_frame(EV_LOG, 0, "ready", 5);

  unsigned char *in = malloc(65536);
  size_t in_len = 0, in_cap = 65536;
  struct pollfd fds[4 + MAX_PROCS * 3];
  struct proc *owners[4 + MAX_PROCS * 3];
  char kinds[4 + MAX_PROCS * 3];
  for (;;) {
    int n = 0;
    fds[n] = (struct pollfd){.fd = 0, .events = POLLIN}, owners[n] = NULL, kinds[n++] = 'i';
    fds[n] = (struct pollfd){.fd = sig_fd, .events = POLLIN}, owners[n] = NULL, kinds[n++] = 's';
    if (inotify_fd >= 0) fds[n] = (struct pollfd){.fd = inotify_fd, .events = POLLIN}, owners[n] = NULL, kinds[n++] = 'n';
    if (events_fd >= 0) fds[n] = (struct pollfd){.fd = events_fd, .events = POLLIN}, owners[n] = NULL, kinds[n++] = 'e';
    int timeout = -1;
    int64_t now = now_ms();
    for (int i = 0; i < MAX_PROCS; i++) {
      struct proc *p = &procs[i];
      if (!p->used) continue;
      if (p->exited && !awaiting_credit(p)) {
        int64_t left = p->exit_deadline - now;
        if (left <= 0) {
          maybe_finish(p, 1);
          continue;
        }
        if (timeout < 0 || left < timeout) timeout = (int)left;
      }
      int readable = !p->flow || p->credit > 0;
      if (p->out_fd >= 0 && readable) fds[n] = (struct pollfd){.fd = p->out_fd, .events = POLLIN}, owners[n] = p, kinds[n++] = 'o';
      if (p->err_fd >= 0 && readable) fds[n] = (struct pollfd){.fd = p->err_fd, .events = POLLIN}, owners[n] = p, kinds[n++] = 'r';
      if (p->pending_len > 0 && p->in_fd >= 0 && !p->tty)
        fds[n] = (struct pollfd){.fd = p->in_fd, .events = POLLOUT}, owners[n] = p, kinds[n++] = 'w';
    }
    if (poll(fds, (nfds_t)n, timeout) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    for (int i = 0; i < n; i++) {
      if (!fds[i].revents) continue;
      struct proc *p = owners[i];
      /* A slot freed earlier in this pass (exit reported) may now belong to nobody. */
      if (p && !p->used) continue;
      switch (kinds[i]) {
        case 'i': {
          if (in_cap - in_len < 65536) in = realloc(in, in_cap *= 2);
          ssize_t got = read(0, in + in_len, in_cap - in_len);
          if (got == 0) return 0; /* The server closed the channel: the instance is ending. */
          if (got < 0) break;
          in_len += (size_t)got;
          size_t off = 0;
          while (in_len - off >= 9) {
            uint32_t len = get_u32(in + off + 5);
            if (len > MAX_FRAME) {
              send_log("faas-agent: oversized frame, channel reset");
              off = in_len;
              break;
            }
            if (in_len - off < 9 + (size_t)len) break;
            handle_frame((char)in[off], get_u32(in + off + 1), in + off + 9, len);
            off += 9 + len;
          }
          memmove(in, in + off, in_len - off);
          in_len -= off;
          if (in_len > 0 && in_cap < in_len + 65536) in = realloc(in, in_cap = in_len * 2 + 65536);
          break;
        }
        case 's': {
          struct signalfd_siginfo info;
          while (read(sig_fd, &info, sizeof info) > 0) {}
          reap();
          break;
        }
        case 'n':
          read_inotify();
          break;
        case 'e':
          read_events_fifo();
          break;
        case 'o':
          if (p->out_fd == fds[i].fd) forward_output(p, &p->out_fd, EV_STDOUT);
          break;
        case 'r':
          if (p->err_fd == fds[i].fd) forward_output(p, &p->err_fd, EV_STDERR);
          break;
        case 'w':
          flush_stdin(p);
          break;
      }
    }
  }
}
