# wish tk_wish.tcl SCRIPT [ARGS...]: run a Tk script with tk_truth.tcl loaded, and the Tcl in
# $env(MARKPILOT_TK_EVAL) (if any) once the script has set up its windows.
source [file join [file dirname [info script]] tk_truth.tcl]
set argv0 [lindex $argv 0]
set argv [lrange $argv 1 end]
set argc [llength $argv]
if {[info exists env(MARKPILOT_TK_EVAL)] && $env(MARKPILOT_TK_EVAL) ne ""} {
    after 1500 $env(MARKPILOT_TK_EVAL)
}
source $argv0
