"""Command-line entry of this area: `moderation dashboard` and `moderation users` (`moderation ingest` is in
pipeline.connectors.commands).

Wired into `pipeline.cli` with `add_arguments(sub)` on the top-level subparsers.
"""
from __future__ import annotations

import argparse
import os

DEFAULT_PORT = 8765
PORT_ENV = "MODERATION_DASHBOARD_PORT"


def _port(args) -> int | None:
    if args.port is not None:
        return args.port
    value = os.environ.get(PORT_ENV)
    if value is None:
        return DEFAULT_PORT
    if value.strip().isdigit() and 0 <= int(value) <= 65535:
        return int(value)
    return None


def cmd_dashboard(args) -> int:
    import sys

    from pipeline.dashboard.server import serve

    if args.demo:
        from pipeline.devtools.demo import topic_env

        os.environ.update(topic_env())
    port = _port(args)
    if port is None:
        print(f"configuration error: {PORT_ENV}={os.environ.get(PORT_ENV)!r} is not a port number (0–65535)",
              file=sys.stderr)
        return 2
    return serve(host=args.host, port=port, open_browser=args.open)


def _users_file(args):
    from pipeline.config import load_settings
    from pipeline.dashboard.users import UserFile

    return UserFile(args.file or load_settings().dashboard.users_file)


def _read_password(confirm: bool) -> str:
    """From the terminal without echo (asked twice), or the first line of standard input."""
    import getpass
    import sys

    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if confirm and getpass.getpass("Again: ") != first:
            raise SystemExit("moderation users: the two passwords differ; nothing changed")
        return first
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


def cmd_users(args) -> int:
    import sys

    from pipeline.dashboard.users import UsersError

    users = _users_file(args)
    try:
        if args.users_command == "list":
            found = users.load()
            if not found:
                print(f"No users in {users.path}. Add one: moderation users add NAME --role supervisor")
            for user in sorted(found.values(), key=lambda u: u.name):
                groups = f"  groups: {', '.join(user.groups)}" if user.groups else ""
                sso = "  (single sign-on only)" if user.password_hash is None else ""
                print(f"{user.name}  {user.role}  ({user.display_name}){groups}{sso}  added {user.created}")
        elif args.users_command == "add":
            groups = args.groups.split(",") if args.groups else []
            from pipeline.dashboard.users import check_groups, check_name

            check_name(args.name)                # before asking for a password that would be thrown away
            check_groups(args.role, groups)
            password = None if args.sso else _read_password(confirm=True)
            user = users.add(args.name, args.role, groups, password, args.display_name)
            how = "; logs in by single sign-on only" if args.sso else ""
            print(f"Added {user.name} ({user.role}{': ' + ', '.join(user.groups) if user.groups else ''}) "
                  f"to {users.path}{how}")
        elif args.users_command == "remove":
            users.remove(args.name)
            print(f"Removed {args.name}; their sessions end with their next request")
        elif args.users_command == "passwd":
            if args.name not in users.load():
                raise UsersError(f"no user {args.name!r} (`moderation users list` shows them)")
            users.passwd(args.name, _read_password(confirm=True))
            print(f"Changed the password of {args.name}; their sessions end with their next request")
    except UsersError as exc:
        print(f"moderation users: {exc}", file=sys.stderr)
        return 2
    return 0


def add_arguments(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "dashboard", help="live web dashboard of the output topics (violations, escalations, responsiveness, reports)",
        description="Serve a live dashboard on loopback. It reads the output topics from the beginning "
                    "(topic names and broker from MODERATION_* settings) and updates the page as records arrive.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=None,
                   help=f"port (default ${PORT_ENV} or {DEFAULT_PORT}; 0 = any free port)")
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.add_argument("--demo", action="store_true", help="read the topics of `moderation demo`")
    p.set_defaults(func=cmd_dashboard)

    from pipeline.dashboard.users import ROLES

    users = subparsers.add_parser(
        "users", help="the dashboard's users and roles (add, list, remove, passwd)",
        description="Manage who may log in to the dashboard. Roles: admin and owner see and decide for the groups "
                    "given with --groups; supervisor and compliance for every group; auditor reads only. Passwords "
                    "are read from standard input (not echoed on a terminal) and kept as Argon2id hashes.")
    users.add_argument("--file", default=None,
                       help="the users file (default: MODERATION_DASHBOARD_USERS_FILE, else var/dashboard/users.json)")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="add a user (password from standard input)")
    add.add_argument("name", help="login name: letters, digits, . _ @ -")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--groups", default=None, help="comma-separated group ids (admin and owner only; required for them)")
    add.add_argument("--display-name", default=None, help="the name shown in decisions (default: the login name)")
    add.add_argument("--sso", action="store_true",
                     help="no password: this user logs in by single sign-on only (the provider's claim names them)")
    users_sub.add_parser("list", help="list users, roles and groups (never the hashes)")
    remove = users_sub.add_parser("remove", help="remove a user (their sessions end)")
    remove.add_argument("name")
    passwd = users_sub.add_parser("passwd", help="set a new password (from standard input; their sessions end)")
    passwd.add_argument("name")
    users.set_defaults(func=cmd_users)
