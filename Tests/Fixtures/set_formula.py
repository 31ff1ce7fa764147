#!/usr/bin/python3
"""Changes one cell's formula in a workbook with LibreOffice itself, as a learner would, and saves
it as .xlsx: the checker's tests use it to make a slip with a real spreadsheet.

    /usr/bin/python3 set_formula.py IN.xlsx SHEET_INDEX CELL FORMULA OUT.xlsx

Runs a private headless LibreOffice (its own profile, a pipe of its own), driven over UNO (Debian's
python3-uno, which is why this runs with /usr/bin/python3)."""
import os
import subprocess
import sys
import tempfile
import time

import uno
from com.sun.star.beans import PropertyValue


def prop(name, value):
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def main():
    source, sheet_index, cell, formula, target = sys.argv[1:6]
    profile = tempfile.mkdtemp(prefix="backprop-uno-")
    pipe = "backprop" + str(os.getpid())
    office = subprocess.Popen(["soffice", "-env:UserInstallation=file://" + profile, "--headless", "--norestore",
                               "--nologo", "--accept=pipe,name=%s;urp;" % pipe],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        resolver = uno.getComponentContext().ServiceManager.createInstanceWithContext(
            "com.sun.star.bridge.UnoUrlResolver", uno.getComponentContext())
        for _ in range(600):
            try:
                context = resolver.resolve("uno:pipe,name=%s;urp;StarOffice.ComponentContext" % pipe)
                break
            except Exception:
                time.sleep(0.1)
        else:
            sys.exit("set_formula.py: LibreOffice did not start within 60 s")
        desktop = context.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", context)
        document = desktop.loadComponentFromURL(uno.systemPathToFileUrl(os.path.abspath(source)), "_blank", 0,
                                                (prop("Hidden", True),))
        sheet = document.Sheets.getByIndex(int(sheet_index))
        sheet.getCellRangeByName(cell).setFormula(formula)
        document.calculateAll()
        document.storeToURL(uno.systemPathToFileUrl(os.path.abspath(target)),
                            (prop("FilterName", "Calc MS Excel 2007 XML"),))
        document.close(True)
        try:
            desktop.terminate()
        except Exception:
            pass  # the bridge closes as LibreOffice quits
    finally:
        try:
            office.wait(timeout=30)
        except subprocess.TimeoutExpired:
            office.kill()
        subprocess.run(["rm", "-rf", profile])


if __name__ == "__main__":
    main()
