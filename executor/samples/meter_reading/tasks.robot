*** Settings ***
Documentation       Validate meter readings and deliver a summary to the user who started the run.
...                 Each task records its result in a checkpoint, so a resumed attempt skips it.
Library             MeterReadings.py
Library             Checkpoint

*** Variables ***
${input_file}           readings.csv
${max_increase}         5000
${fail_on_problems}     false
${deliver}              true

*** Tasks ***
Validate Readings
    ${rows}=    Load Readings    ${input_file}
    ${problems}=    Validate Readings    ${rows}    ${max_increase}
    Save Checkpoint    rows    ${rows}
    Save Checkpoint    problems    ${problems}
    Log    Checked ${{len($rows)}} readings, found ${{len($problems)}} problem(s)

Write Summary
    ${rows}=    Load Checkpoint    rows    ${None}
    ${problems}=    Load Checkpoint    problems    ${None}
    Should Not Be Equal    ${rows}    ${None}    No readings: Validate Readings did not complete
    ${path}=    Write Summary    ${rows}    ${problems}
    Save Checkpoint    summary    ${path}

Deliver Summary
    ${path}=    Load Checkpoint    summary    ${None}
    ${exists}=    Evaluate    $path is not None and os.path.exists($path)    modules=os
    IF    not $exists
        ${rows}=    Load Checkpoint    rows
        ${problems}=    Load Checkpoint    problems
        ${path}=    Write Summary    ${rows}    ${problems}
    END
    IF    $deliver.lower() in ('true', '1', 'yes')
        Deliver To User    ${path}
    ELSE
        Log    Delivery disabled by the deliver argument
    END
    ${problems}=    Load Checkpoint    problems    ${{[]}}
    IF    $fail_on_problems.lower() in ('true', '1', 'yes') and $problems
        Fail    ${{len($problems)}} invalid reading(s)
    END
