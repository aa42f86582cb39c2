# Bounded waits and free ports, shared by the test suites (lib.sh) and
# make bench (bench/run.sh): sourced, it defines functions and nothing else.

# wait_for TRIES CMD...: runs CMD every 0.1 s until it succeeds, TRIES times.
wait_for() {
	n=$1; shift
	i=0
	while [ $i -lt "$n" ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		i=$((i+1))
	done
	return 1
}

# A TCP port free on 127.0.0.1 now (the kernel's pick).
free_port() {
	python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'
}
