/*
 * python3: Debian's Python 3.11 as a position-independent program.
 *
 * Debian links /usr/bin/python3.11 at a fixed address (ET_EXEC, for
 * speed), and no-MMU Linux runs only position-independent programs. The
 * same interpreter ships as a shared library, libpython3.11.so.1.0
 * (Debian's libpython3.11 package), and CPython's own program is nothing
 * but a call of its entry point. scripts/build-programs.sh builds this
 * file as a PIE against that library into the tree as
 * /usr/local/bin/python3; the interpreter, its standard library and its
 * extension modules stay Debian's, unchanged. It finds them as
 * /usr/bin/python3.11 does: no prefix under /usr/local, so the configured
 * one, /usr.
 */
int Py_BytesMain(int argc, char **argv);

int main(int argc, char **argv)
{
	return Py_BytesMain(argc, argv);
}
