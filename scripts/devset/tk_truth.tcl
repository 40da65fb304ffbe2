# Ground truth from Tk itself (Tk 8.6 publishes no accessibility tree): loaded into a Tk
# application, it waits for the file $env(MARKPILOT_TK_TRIGGER) to appear, then writes the
# mapped widgets of every toplevel to $env(MARKPILOT_TK_OUT) as JSON (screen pixels) and
# removes the trigger. Rows of list boxes and tree views, the tabs of notebooks and the
# entries of menu bars are reported one by one.

namespace eval ::mptruth {
    variable out {}
}

proc ::mptruth::str {s} {
    set s [string map [list \\ \\\\ \" \\\" \n " " \r " " \t " "] $s]
    regsub -all {[\x00-\x1f]} $s " " s
    return "\"$s\""
}

proc ::mptruth::emit {kind role name x y w h {enabled 1}} {
    variable out
    if {$w < 2 || $h < 2} { return }
    lappend out "\{\"kind\": \"$kind\", \"role\": \"$role\", \"name\": [str $name], \"x\": $x, \"y\": $y, \"w\": $w, \"h\": $h, \"enabled\": [expr {$enabled ? "true" : "false"}]\}"
}

proc ::mptruth::opt {w o} {
    if {[catch {$w cget $o} v]} { return "" }
    return $v
}

proc ::mptruth::enabled {w} {
    if {![catch {$w instate disabled} d] && [string is boolean -strict $d]} { return [expr {!$d}] }
    return [expr {[opt $w -state] ne "disabled"}]
}

proc ::mptruth::treeitems {w parent} {
    set items {}
    foreach i [$w children $parent] {
        lappend items $i
        if {[$w item $i -open]} { lappend items {*}[treeitems $w $i] }
    }
    return $items
}

proc ::mptruth::widget {w} {
    if {![winfo ismapped $w] || ![winfo viewable $w]} { return }
    set cls [winfo class $w]
    set x [winfo rootx $w]; set y [winfo rooty $w]
    set W [winfo width $w]; set H [winfo height $w]
    set on [enabled $w]
    set text [opt $w -text]
    switch -- $cls {
        Button - TButton { emit element "push button" $text $x $y $W $H $on }
        Checkbutton - TCheckbutton { emit element "check box" $text $x $y $W $H $on }
        Radiobutton - TRadiobutton { emit element "radio button" $text $x $y $W $H $on }
        Menubutton - TMenubutton { emit element "push button menu" $text $x $y $W $H $on }
        Entry - TEntry { emit element "entry" [opt $w -textvariable] $x $y $W $H $on }
        Spinbox - TSpinbox { emit element "spin button" "" $x $y $W $H $on }
        TCombobox { emit element "combo box" "" $x $y $W $H $on }
        Scale - TScale { emit element "slider" "" $x $y $W $H $on }
        Scrollbar - TScrollbar {
            # A scroll bar with nothing to scroll still shows and takes clicks.
            emit element "scroll bar" "" $x $y $W $H $on
        }
        Text {
            emit element "text" "" $x $y $W $H [expr {[opt $w -state] ne "disabled"}]
            # Clickable runs of text (a tag bound to a click) are links inside the text.
            foreach tag [$w tag names] {
                if {[$w tag bind $tag <Button-1>] eq "" && [$w tag bind $tag <ButtonRelease-1>] eq "" &&
                    [$w tag bind $tag <1>] eq ""} { continue }
                foreach {a b} [$w tag ranges $tag] {
                    set box ""
                    for {set i $a} {[$w compare $i < $b]} {set i [$w index "$i + 1 display chars"]} {
                        set c [$w bbox $i]
                        if {$c eq ""} { continue }
                        if {[string trim [$w get $i]] eq ""} { continue }
                        lassign $c cx cy cw ch
                        if {$box eq ""} { set box [list $cx $cy [expr {$cx + $cw}] [expr {$cy + $ch}]]; continue }
                        lassign $box ax ay bx by
                        if {$cy >= $by} { break }
                        set box [list [expr {min($ax, $cx)}] $ay [expr {max($bx, $cx + $cw)}] [expr {max($by, $cy + $ch)}]]
                    }
                    if {$box eq ""} { continue }
                    lassign $box ax ay bx by
                    emit element "link" [$w get $a $b] [expr {$x + $ax}] [expr {$y + $ay}] [expr {$bx - $ax}] [expr {$by - $ay}]
                }
            }
        }
        Listbox {
            set first [$w nearest 0]; set last [$w nearest $H]
            for {set i $first} {$i <= $last} {incr i} {
                set b [$w bbox $i]
                if {$b eq ""} { continue }
                lassign $b bx by bw bh
                set bd [expr {[opt $w -borderwidth] + [opt $w -highlightthickness]}]
                set top [expr {max($by, $bd)}]
                set bot [expr {min($by + $bh + 1, $H - $bd)}]
                emit element "list item" [$w get $i] [expr {$x + $bd}] [expr {$y + $top}] [expr {$W - 2 * $bd}] [expr {$bot - $top}] $on
            }
        }
        Treeview {
            set show [opt $w -show]
            set items [treeitems $w {}]
            set hh 0
            foreach i $items {
                set b [$w bbox $i]
                if {$b eq ""} { continue }
                lassign $b bx by bw bh
                if {$hh == 0} { set hh $by }
                set vals [list [$w item $i -text] {*}[$w item $i -values]]
                set name [join [lsearch -all -inline -not $vals ""] " | "]
                set bot [expr {min($by + $bh, $H)}]
                emit element "table row" $name [expr {$x + $bx}] [expr {$y + $by}] $bw [expr {$bot - $by}] $on
            }
            if {[lsearch $show headings] >= 0 && $hh > 4} {
                set cx 0
                set cols {}
                if {[lsearch $show tree] >= 0} { lappend cols #0 }
                set disp [opt $w -displaycolumns]
                if {$disp eq "#all" || $disp eq ""} { set disp [opt $w -columns] }
                lappend cols {*}$disp
                foreach c $cols {
                    set cw [$w column $c -width]
                    set cw [expr {min($cw, $W - $cx)}]
                    if {$cw > 2} { emit element "table column header" [$w heading $c -text] [expr {$x + $cx}] $y $cw $hh $on }
                    incr cx $cw
                }
            }
        }
        TNotebook {
            set n [$w index end]
            for {set t 0} {$t < $n} {incr t} { set x0($t) 100000; set x1($t) -1; set y0($t) 100000; set y1($t) -1 }
            for {set py 0} {$py < min(60, $H)} {incr py 2} {
                for {set px 0} {$px < $W} {incr px 2} {
                    set t [$w identify tab $px $py]
                    if {$t eq ""} { continue }
                    set x0($t) [expr {min($x0($t), $px)}]; set x1($t) [expr {max($x1($t), $px + 2)}]
                    set y0($t) [expr {min($y0($t), $py)}]; set y1($t) [expr {max($y1($t), $py + 2)}]
                }
            }
            for {set t 0} {$t < $n} {incr t} {
                if {$x1($t) < 0} { continue }
                emit element "page tab" [$w tab $t -text] [expr {$x + $x0($t)}] [expr {$y + $y0($t)}] [expr {$x1($t) - $x0($t)}] [expr {$y1($t) - $y0($t)}] [expr {[$w tab $t -state] ne "disabled"}]
            }
        }
        Menu {
            if {[opt $w -type] eq "menubar" || [string match "*.#*" $w]} {
                set last [$w index end]
                if {$last ne "none"} {
                    for {set i 0} {$i <= $last} {incr i} {
                        if {[$w type $i] in {tearoff separator}} { continue }
                        set ex [$w xposition $i]; set ey [$w yposition $i]
                        set ex1 $W
                        for {set j [expr {$i + 1}]} {$j <= $last} {incr j} {
                            if {[$w type $j] ni {tearoff separator}} { set ex1 [$w xposition $j]; break }
                        }
                        if {$ex1 <= $ex} { set ex1 $W }
                        emit element "menu" [$w entrycget $i -label] [expr {$x + $ex}] [expr {$y + $ey}] [expr {$ex1 - $ex}] [expr {$H - $ey}] [expr {[$w entrycget $i -state] ne "disabled"}]
                    }
                }
            }
        }
        Label - TLabel - Message {
            if {$text ne "" || [opt $w -image] ne "" || [opt $w -textvariable] ne ""} {
                emit text "label" $text $x $y $W $H
            }
        }
        Canvas {
            foreach item [$w find overlapping [$w canvasx 0] [$w canvasy 0] [$w canvasx $W] [$w canvasy $H]] {
                if {[$w type $item] eq "window" || [$w itemcget $item -state] eq "hidden"} { continue }
                set b [$w bbox $item]
                if {$b eq ""} { continue }
                lassign $b ax ay bx by
                set ax [expr {int($ax - [$w canvasx 0])}]; set bx [expr {int($bx - [$w canvasx 0])}]
                set ay [expr {int($ay - [$w canvasy 0])}]; set by [expr {int($by - [$w canvasy 0])}]
                set ax [expr {max(0, $ax)}]; set ay [expr {max(0, $ay)}]
                set bx [expr {min($W, $bx)}]; set by [expr {min($H, $by)}]
                set kind [expr {[$w type $item] eq "text" ? "label" : "image"}]
                emit text $kind "" [expr {$x + $ax}] [expr {$y + $ay}] [expr {$bx - $ax}] [expr {$by - $ay}]
            }
        }
    }
    foreach c [winfo children $w] { widget $c }
}

proc ::mptruth::dump {} {
    variable out
    set out {}
    set tops {}
    foreach t [wm stackorder .] { lappend tops $t }
    if {[lsearch $tops .] < 0 && [winfo ismapped .]} { set tops [linsert $tops 0 .] }
    set wins {}
    foreach t $tops {
        lappend wins "\{\"path\": [str $t], \"title\": [str [wm title $t]], \"x\": [winfo rootx $t], \"y\": [winfo rooty $t], \"w\": [winfo width $t], \"h\": [winfo height $t]\}"
    }
    foreach t $tops {
        set out {}
        widget $t
        lappend per "\{\"path\": [str $t], \"items\": \[[join $out ", "]\]\}"
    }
    set f [open $::env(MARKPILOT_TK_OUT).tmp w]
    fconfigure $f -encoding utf-8
    puts $f "\{\"windows\": \[[join $wins ", "]\], \"trees\": \[[join $per ", "]\]\}"
    close $f
    file rename -force $::env(MARKPILOT_TK_OUT).tmp $::env(MARKPILOT_TK_OUT)
}

proc ::mptruth::poll {} {
    if {[file exists $::env(MARKPILOT_TK_TRIGGER)]} {
        file delete $::env(MARKPILOT_TK_TRIGGER)
        if {[catch {::mptruth::dump} err]} {
            set f [open $::env(MARKPILOT_TK_OUT) w]
            puts $f "\{\"error\": [::mptruth::str $err]\}"
            close $f
        }
    }
    after 200 ::mptruth::poll
}

after 200 ::mptruth::poll
