"""The pure decision core: signals, incidents, playbooks, guards, plans. No I/O, no clock."""
