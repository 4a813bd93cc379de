/* The baseline of the boot benchmark: a static C hello process. */
#include <unistd.h>

int main(void)
{
	static const char msg[] = "Hello from a static C process\n";

	return write(1, msg, sizeof(msg) - 1) == sizeof(msg) - 1 ? 0 : 1;
}
