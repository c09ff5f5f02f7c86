"""A local Neo4j Community server for tests and for users without one.

``rxring neo4j start`` downloads Neo4j Community 5.26 LTS from Maven Central into a
cache outside the repository (``~/.cache/rxring/neo4j``, or ``$RXRING_CACHE/neo4j``)
and starts it on free loopback ports with a generated password.

Maven Central does not serve the server tarball
(``org.neo4j.assembly:neo4j-community:5.26.x:tar.gz:unix`` answers 404), so the
server is ``org.neo4j.test:neo4j-harness`` — the same Community DBMS with its Bolt
and HTTP connectors — run by a twenty-line Java launcher that this module writes,
compiles with ``javac`` and starts with ``java``.  Maven fetches the jars once; later
starts work offline.

Each server is an *instance* with its own folder::

    CACHE/neo4j/dist/<version>/lib/*.jar        the jars (shared by instances)
    CACHE/neo4j/dist/<version>/classes/         the compiled launcher
    CACHE/neo4j/instances/<name>/data/          the database files (kept across restarts)
    CACHE/neo4j/instances/<name>/state.json     uri, user, password, pid (mode 0600)
    CACHE/neo4j/instances/<name>/neo4j.log      the server's output

The password is never printed; :func:`server_status` says where it is stored.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ...errors import RxringError
from ..jvm import java_options

__all__ = [
    "NEO4J_VERSION",
    "SETTINGS_ENV",
    "neo4j_settings",
    "ServerState",
    "cache_dir",
    "ensure_distribution",
    "start_server",
    "stop_server",
    "server_status",
    "read_state",
    "instance_home",
    "jdk_tool",
]

#: The Neo4j 5.26 LTS release rxring provisions (override with RXRING_NEO4J_VERSION).
NEO4J_VERSION = "5.26.30"

_READY_MARK = "RXRING_NEO4J_READY"

_POM_XML = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>rxring</groupId>
  <artifactId>rxring-neo4j-launcher</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.neo4j.test</groupId>
      <artifactId>neo4j-harness</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""

_LAUNCHER_JAVA = """\
import java.nio.file.*;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.neo4j.configuration.Config;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.SettingImpl;
import org.neo4j.graphdb.config.Setting;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.harness.Neo4j;
import org.neo4j.harness.Neo4jBuilder;
import org.neo4j.harness.Neo4jBuilders;

/** rxring's launcher: a Neo4j Community server (neo4j-harness) on loopback, with a password.
 *  args: HOME BOLT_PORT HTTP_PORT(0 = no HTTP) PASSWORD_FILE PAGECACHE_MB */
public final class RxringNeo4j {
    public static void main(String[] args) throws Exception {
        Path home = Paths.get(args[0]).toAbsolutePath();
        int boltPort = Integer.parseInt(args[1]);
        int httpPort = Integer.parseInt(args[2]);
        String password = Files.readString(Paths.get(args[3])).strip();
        long pagecache = Long.parseLong(args[4]) * 1024L * 1024L;
        Files.createDirectories(home.resolve("work"));
        Neo4jBuilder builder = Neo4jBuilders.newInProcessBuilder(home.resolve("work"));
        if (httpPort == 0) {
            builder = builder.withDisabledServer();   // Bolt only: starts faster
        } else {
            builder = builder
                .withConfig(HttpConnector.enabled, true)
                .withConfig(HttpConnector.listen_address, new SocketAddress("127.0.0.1", httpPort))
                .withConfig(HttpConnector.advertised_address, new SocketAddress("127.0.0.1", httpPort));
        }
        if (args.length > 5) {   // extra settings ($RXRING_NEO4J_SETTINGS): a file of name=value lines
            Map<String, Setting<Object>> declared = Config.defaults().getDeclaredSettings();
            for (String line : Files.readAllLines(Paths.get(args[5]))) {
                int eq = line.indexOf('=');
                String name = line.substring(0, Math.max(eq, 0)).strip();
                Setting<Object> setting = declared.get(name);
                if (setting == null) {
                    System.err.println("rxring: this Neo4j has no setting named '" + name + "'");
                    System.exit(4);
                }
                try {
                    builder = builder.withConfig(setting, ((SettingImpl<Object>) setting).parse(line.substring(eq + 1).strip()));
                } catch (RuntimeException e) {
                    System.err.println("rxring: bad value for Neo4j setting " + name + ": " + e.getMessage());
                    System.exit(4);
                }
            }
        }
        Neo4j neo4j = builder
            .withConfig(GraphDatabaseSettings.data_directory, home.resolve("data"))
            .withConfig(GraphDatabaseSettings.auth_enabled, true)
            .withConfig(GraphDatabaseSettings.pagecache_memory, pagecache)
            .withConfig(BoltConnector.enabled, true)
            .withConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
            .withConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", boltPort))
            .withConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", boltPort))
            .build();
        try {
            neo4j.databaseManagementService().database("system").executeTransactionally(
                "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED", Map.of("password", password));
        } catch (RuntimeException e) {
            if (!String.valueOf(e.getMessage()).contains("cannot be the same")) {
                System.err.println("rxring: could not set the password: " + e.getMessage());
                neo4j.close();
                System.exit(3);
            }
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try { neo4j.close(); } finally { stopped.countDown(); }
        }));
        System.out.println("RXRING_NEO4J_READY " + neo4j.boltURI());
        System.out.flush();
        stopped.await();
    }
}
"""


@dataclass
class ServerState:
    """Where a running rxring-managed server listens and how to log in."""

    name: str
    uri: str
    http_uri: str
    user: str
    password: str
    pid: int
    version: str
    home: str
    started_at: float

    @property
    def state_path(self) -> Path:
        return Path(self.home) / "state.json"


def cache_dir() -> Path:
    """The folder for downloaded servers and instances (``$RXRING_CACHE/neo4j``)."""
    root = os.environ.get("RXRING_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "rxring")
    return Path(root) / "neo4j"


def _version() -> str:
    return os.environ.get("RXRING_NEO4J_VERSION") or NEO4J_VERSION


def instance_home(name: str) -> Path:
    """The folder of the rxring-managed Neo4j instance *name* (under :func:`cache_dir`)."""
    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise RxringError(f"bad Neo4j instance name {name!r}: use letters, digits, '-' or '_'")
    return cache_dir() / "instances" / name


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def jdk_tool(name: str) -> str:
    """The path of ``java``, ``javac`` or ``mvn`` (``JAVA_HOME`` first); a clear error when missing."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and name in ("java", "javac") and (Path(java_home) / "bin" / name).exists():
        return str(Path(java_home) / "bin" / name)
    found = shutil.which(name)
    if not found:
        hint = "install OpenJDK 17 or newer" if name.startswith("java") else "install Apache Maven"
        raise RxringError(f"`{name}` not found on PATH; {hint}, or point rxring at a server with NEO4J_URI")
    return found


def ensure_distribution(version: str | None = None, log=None) -> Path:
    """Download (once) the Neo4j jars with Maven and compile the launcher.

    Parameters
    ----------
    version : str, optional
        Neo4j version, default :data:`NEO4J_VERSION` (or ``$RXRING_NEO4J_VERSION``).
    log : callable, optional
        Called with one line of progress text.

    Returns
    -------
    Path
        The distribution folder holding ``lib/`` and ``classes/``.
    """
    version = version or _version()
    dist = cache_dir() / "dist" / version
    done = dist / ".complete"
    launcher_sha = hashlib.sha256(_LAUNCHER_JAVA.encode()).hexdigest()
    compiled = dist / "classes" / ".launcher-sha256"

    def ready() -> bool:
        return done.exists() and compiled.exists() and compiled.read_text(encoding="utf-8") == launcher_sha

    if ready():
        return dist
    with _locked(cache_dir() / "dist.lock"):
        if ready():
            return dist
        dist.mkdir(parents=True, exist_ok=True)
        lib = dist / "lib"
        if not done.exists():
            (dist / "pom.xml").write_text(_POM_XML.format(version=version), encoding="utf-8")
            if log:
                log(f"downloading Neo4j Community {version} (neo4j-harness) from Maven Central into {dist} ...")
            cmd = [jdk_tool("mvn"), "-q", "-B", "-f", str(dist / "pom.xml"), "dependency:copy-dependencies",
                   f"-DoutputDirectory={lib}", "-DincludeScope=runtime"]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=dist)
            if proc.returncode != 0:
                tail = " ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
                raise RxringError(f"could not download Neo4j {version} with Maven (is Maven Central reachable?): {tail}")
            done.write_text(version, encoding="utf-8")
        src = dist / "src"
        src.mkdir(exist_ok=True)
        (src / "RxringNeo4j.java").write_text(_LAUNCHER_JAVA, encoding="utf-8")
        classes = dist / "classes"
        shutil.rmtree(classes, ignore_errors=True)
        classes.mkdir()
        proc = subprocess.run([jdk_tool("javac"), "-d", str(classes), "-cp", f"{lib}/*", str(src / "RxringNeo4j.java")],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RxringError(f"could not compile the Neo4j launcher: {proc.stderr.strip()[:500]}")
        compiled.write_text(launcher_sha, encoding="utf-8")
    return dist


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process still "exists": reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def _bolt_answers(state: ServerState, timeout: float = 5.0) -> bool:
    from neo4j import GraphDatabase

    try:
        with GraphDatabase.driver(state.uri, auth=(state.user, state.password), connection_timeout=timeout) as driver:
            driver.verify_connectivity()
        return True
    except Exception:  # any failure means "not (yet) answering"
        return False


def read_state(name: str = "default") -> ServerState | None:
    """The state of instance ``name`` if its server process is alive, else None."""
    path = instance_home(name) / "state.json"
    if not path.exists():
        return None
    try:
        state = ServerState(**json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError):
        return None
    return state if _pid_alive(state.pid) else None


def _write_private(path: Path, text: str) -> None:
    """Write *path* anew, readable by its owner only (mode 0600 whatever an older file's mode was)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _write_state(state: ServerState) -> None:
    path = state.state_path
    tmp = path.with_suffix(".tmp")
    _write_private(tmp, json.dumps(asdict(state), indent=2))
    tmp.replace(path)


#: Extra settings for the servers :func:`start_server` starts: ``name=value`` pairs, separated by ``;`` or new lines.
SETTINGS_ENV = "RXRING_NEO4J_SETTINGS"


def neo4j_settings(text: str | None = None) -> list[str]:
    """The extra Neo4j settings in *text* (default ``$RXRING_NEO4J_SETTINGS``), as ``name=value`` lines.

    The local server starts with them on top of rxring's own (the launcher checks each
    name against the server's settings and each value against its type, and the start
    fails naming the bad one).  The test suite sets two that keep its server from
    planning the same Cypher again each time a test loads a new small graph.

    >>> neo4j_settings("dbms.cypher.min_replan_interval=1h; db.logs.query.enabled = OFF")
    ['dbms.cypher.min_replan_interval=1h', 'db.logs.query.enabled=OFF']
    >>> neo4j_settings("dbms.cypher.min_replan_interval")
    Traceback (most recent call last):
    ...
    rxring.errors.RxringError: RXRING_NEO4J_SETTINGS: 'dbms.cypher.min_replan_interval' is not name=value
    """
    text = os.environ.get(SETTINGS_ENV, "") if text is None else text
    settings = []
    for entry in text.replace(";", "\n").splitlines():
        if not entry.strip():
            continue
        name, eq, value = entry.partition("=")
        if not eq or not name.strip():
            raise RxringError(f"{SETTINGS_ENV}: {entry.strip()!r} is not name=value")
        settings.append(f"{name.strip()}={value.strip()}")
    return settings


def start_server(name: str = "default", *, heap_mb: int | None = None, pagecache_mb: int | None = None,
                 http: bool = True, timeout: float = 240.0, log=None) -> ServerState:
    """Start (or find already running) the rxring-managed Neo4j instance ``name``.

    Downloads the server on first use (:func:`ensure_distribution`), picks free
    loopback ports for Bolt and HTTP, generates a password, starts the JVM with
    small memory settings (heap ``$RXRING_NEO4J_HEAP_MB`` or 768 MB, page cache
    ``$RXRING_NEO4J_PAGECACHE_MB`` or 384 MB) and the settings of
    ``$RXRING_NEO4J_SETTINGS`` (:func:`neo4j_settings`), waits until Bolt answers and
    writes ``state.json`` (mode 0600) in the instance folder.

    Parameters
    ----------
    name : str
        Instance name; each has its own data folder, ports and password.
    heap_mb, pagecache_mb : int, optional
        JVM heap and Neo4j page cache sizes.
    http : bool
        Also open the HTTP API (off starts faster; the tests use Bolt only).
    timeout : float
        Seconds to wait for Bolt to answer.
    log : callable, optional
        Called with progress lines (never with the password).

    Returns
    -------
    ServerState
        URI, user, password, pid of the running server.

    Examples
    --------
    >>> state = start_server("scratch")        # doctest: +SKIP
    >>> state.uri                               # doctest: +SKIP
    'bolt://127.0.0.1:40123'
    """
    home = instance_home(name)
    settings = neo4j_settings()
    with _locked(home.parent / f"{name}.lock"):
        running = read_state(name)
        if running is not None and _bolt_answers(running):
            if log:
                log(f"Neo4j instance {name!r} already running at {running.uri} (pid {running.pid})")
            return running
        if running is not None:  # alive but not answering: a stale or stuck server
            _terminate(running.pid)
        dist = ensure_distribution(log=log)
        version = (dist / ".complete").read_text(encoding="utf-8").strip()
        home.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(home / "work", ignore_errors=True)  # the harness's scratch folder
        password = secrets.token_urlsafe(18)
        pw_file = home / "password"
        _write_private(pw_file, password)
        bolt_port, http_port = _free_port(), (_free_port() if http else 0)
        while http and http_port == bolt_port:
            http_port = _free_port()
        heap = heap_mb or int(os.environ.get("RXRING_NEO4J_HEAP_MB", "768"))
        pagecache = pagecache_mb or int(os.environ.get("RXRING_NEO4J_PAGECACHE_MB", "384"))
        log_path = home / "neo4j.log"
        cmd = [jdk_tool("java"), f"-Xms{min(heap, 256)}m", f"-Xmx{heap}m", "-XX:+UseParallelGC",
               "-XX:ParallelGCThreads=2", "-XX:+ExitOnOutOfMemoryError", "-Dfile.encoding=UTF-8",
               *java_options(), "-cp", f"{dist / 'classes'}{os.pathsep}{dist / 'lib'}/*", "RxringNeo4j",
               str(home), str(bolt_port), str(http_port), str(pw_file), str(pagecache)]
        settings_file = home / "settings.conf"
        if settings:   # private, like the password: a setting may hold a secret
            _write_private(settings_file, "\n".join(settings) + "\n")
            cmd.append(str(settings_file))
        else:
            settings_file.unlink(missing_ok=True)
        if log:
            log(f"starting Neo4j {version} instance {name!r} on 127.0.0.1:{bolt_port} (log: {log_path}) ...")
        offset = log_path.stat().st_size if log_path.exists() else 0
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=home, start_new_session=True)
        state = ServerState(name=name, uri=f"bolt://127.0.0.1:{bolt_port}",
                            http_uri=f"http://127.0.0.1:{http_port}" if http else "",
                            user="neo4j", password=password, pid=proc.pid, version=version, home=str(home),
                            started_at=time.time())
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                with open(log_path, "rb") as handle:   # this start's lines only (the log is appended to)
                    handle.seek(offset)
                    tail = handle.read().decode("utf-8", errors="replace")[-800:].strip().splitlines()[-3:]
                raise RxringError(f"Neo4j instance {name!r} exited during start-up (see {log_path}): {' '.join(tail)}")
            with open(log_path, "rb") as handle:
                handle.seek(max(0, offset - 4096))
                ready = _READY_MARK.encode() in handle.read()
            if ready and _bolt_answers(state):
                break
            if time.monotonic() > deadline:
                _terminate(proc.pid)
                raise RxringError(f"Neo4j instance {name!r} did not answer on {state.uri} within {timeout:.0f}s "
                                  f"(see {log_path})")
            time.sleep(0.5)
        _write_state(state)
        pw_file.unlink(missing_ok=True)  # the launcher has read it; state.json keeps it (0600)
        if log:
            log(f"Neo4j ready at {state.uri} (user neo4j; password in {state.state_path})")
        return state


def _terminate(pid: int, timeout: float = 60.0, force: bool = False) -> None:
    """SIGTERM the server (a clean shutdown), SIGKILL it if it hangs (or at once with ``force``)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL if force else signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
            break
        time.sleep(0.2)


def stop_server(name: str = "default", *, delete_data: bool = False) -> bool:
    """Stop instance ``name``; return True if a server was running.

    ``delete_data=True`` also removes its database folder (used by the test fixture);
    the server is then killed at once, as a clean shutdown would be wasted.
    """
    home = instance_home(name)
    with _locked(home.parent / f"{name}.lock"):
        state = read_state(name)
        if state is not None:
            _terminate(state.pid, force=delete_data)
        (home / "state.json").unlink(missing_ok=True)
        if delete_data:
            shutil.rmtree(home, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                (home.parent / f"{name}.lock").unlink()
        return state is not None


def server_status(name: str = "default") -> dict:
    """A printable description of instance ``name`` (no password, only where it is stored)."""
    home = instance_home(name)
    state = read_state(name)
    if state is None:
        return {"instance": name, "running": False, "home": str(home)}
    return {"instance": name, "running": True, "answering": _bolt_answers(state), "uri": state.uri,
            "http": state.http_uri, "user": state.user, "password_file": str(state.state_path),
            "pid": state.pid, "version": state.version, "home": str(home)}
