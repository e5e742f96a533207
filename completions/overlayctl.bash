# bash completion for overlayctl(8): options, subcommands and protocol ops, each op's
# key= fields, and service names read from the running daemon (the one --socket or
# --data-dir on the command line names, else $OVERLAYD_SOCKET or the default).
# shellcheck shell=bash

_overlayctl_fields() {
	case $1 in
	set_local_node_id) echo node_id= ;;
	set_local_wg_pubkey) echo pubkey= ;;
	setup_global_overlay)
		echo deployment= instance_id= cluster_cidr= slice_cidr= wg_port= nat= nat_enabled= \
			host_adapter_mandatory= private_key= ;;
	setup_service_overlay) echo service= mode= ;;
	teardown_service_overlay) echo service= ;;
	allocate_ip) echo service= join_global= ;;
	release_ip) echo ip= ;;
	attach_container)
		echo handle= service= join_global= ephemeral= dns_server= dns_domain= isolation_network= ;;
	detach_container) echo handle= ;;
	add_peer) echo public_key= endpoint= allowed_ips= persistent_keepalive_secs= candidates= scope= ;;
	remove_peer) echo pubkey= scope= ;;
	add_allowed_ip | remove_allowed_ip) echo pubkey= cidr= scope= ;;
	register_dns) echo name= ip= ;;
	unregister_dns) echo name= ;;
	write_scoped_resolver) echo zone= node_ip= port= ;;
	remove_scoped_resolver) echo zone= ;;
	prune_orphan_bridges) echo live_bridge_names= ;;
	bench) echo --clients --seconds --pipeline --op --request ;;
	esac
}

# Service names from the daemon's services table (first column below the header).
_overlayctl_services() {
	"${1:-overlayctl}" "${@:2}" services 2>/dev/null | awk 'NR > 1 && NF { print $1 }'
}

# Words of the line up to the cursor, split on blanks only: bash's own COMP_WORDS also
# splits at '=', which would cut key=value in two.
_overlayctl_words() {
	local line=${COMP_LINE:0:COMP_POINT}
	read -ra words <<<"$line"
	[[ -z $line || $line == *[[:blank:]] ]] && words+=("")
}

# COMPREPLY for a key=value word: readline replaces only what follows the last '=' when
# '=' is a word break (the default), the whole word otherwise.
_overlayctl_values() {
	local key=$1 value=$2 list=$3
	if [[ $COMP_WORDBREAKS == *=* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$list" -- "$value")
	else
		mapfile -t COMPREPLY < <(compgen -P "$key=" -W "$list" -- "$value")
	fi
}

_overlayctl() {
	local words
	_overlayctl_words
	local n=${#words[@]}
	local cur=${words[n-1]} prev=${words[n-2]}
	local ops="status peers services attachments watch bench set_local_node_id set_local_wg_pubkey
		setup_global_overlay teardown_global_overlay setup_service_overlay teardown_service_overlay
		allocate_ip release_ip attach_container detach_container add_peer remove_peer add_allowed_ip
		remove_allowed_ip register_dns unregister_dns write_scoped_resolver remove_scoped_resolver
		prune_orphan_bridges nat_tick nat_status shutdown"
	local i op="" conn=()
	for ((i = 1; i < n - 1; i++)); do
		case ${words[i]} in
		--socket | --data-dir)
			conn+=("${words[i]}" "${words[i+1]}")
			((i++)) ;;
		-*) ;;
		*) op=${words[i]}; break ;;
		esac
	done
	case $prev in
	--socket | --data-dir)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return ;;
	esac
	if [[ -z $op ]]; then
		if [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "--socket --data-dir --json --help --version" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "$ops" -- "$cur")
		fi
		return
	fi
	case $cur in
	service=* | isolation_network=*)
		_overlayctl_values "${cur%%=*}" "${cur#*=}" "$(_overlayctl_services "${words[0]}" "${conn[@]}")"
		return ;;
	mode=*)
		_overlayctl_values mode "${cur#mode=}" "auto shared dedicated isolated"
		return ;;
	join_global=* | ephemeral=* | nat_enabled=* | host_adapter_mandatory=*)
		_overlayctl_values "${cur%%=*}" "${cur#*=}" "true false"
		return ;;
	esac
	compopt -o nospace 2>/dev/null
	mapfile -t COMPREPLY < <(compgen -W "$(_overlayctl_fields "$op")" -- "$cur")
	[[ $op == bench ]] && compopt +o nospace 2>/dev/null
	return 0
}

complete -F _overlayctl overlayctl
