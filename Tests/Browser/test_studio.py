"""The studio page in a real browser: Debian's headless Chromium, driven by Selenium.

Run by scripts/test-browser, which builds backprop, trains a small checkpoint, starts
`backprop serve` and sets STUDIO_URL (the page), BACKPROP (the binary), SCREENSHOTS (a folder
for one screenshot per test). Every expected number comes from the command line
(`backprop sheet --format json`), never from the page itself.
"""
import json
import os
import re
import subprocess
import tempfile
import unittest
import zipfile

from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.support.ui import WebDriverWait

URL = os.environ["STUDIO_URL"]
BACKPROP = os.environ["BACKPROP"]
SCREENSHOTS = os.environ.get("SCREENSHOTS", "runs/browser-screenshots")
COURSE_WEIGHTS = [0.15, 0.2, 0.25, 0.3, 0.4, 0.45, 0.5, 0.55]


def sheet_rows(weights, lr=0.5, iterations=3):
    """The rows `backprop sheet` prints for these weights (the course's inputs and targets)."""
    with tempfile.TemporaryDirectory() as out:
        text = subprocess.run(
            [BACKPROP, "sheet", "--weights", ",".join(map(str, weights)), "--lr", str(lr),
             "--iterations", str(iterations), "--format", "json", "--out", out],
            check=True, capture_output=True, text=True).stdout
    return json.loads(text)["runs"][0]["rows"]


class StudioPage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                         "--force-device-scale-factor=1"]:
            options.add_argument(argument)
        cls.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        os.makedirs(SCREENSHOTS, exist_ok=True)

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()

    def setUp(self):
        self.driver.get(URL)
        self.wait_for(lambda d: d.find_element(By.ID, "e-tot").text not in ("", "…"))

    def wait_for(self, condition, timeout=20, describe=lambda: ""):
        """Waits for `condition`; on a timeout, fails with what `describe` says then."""
        try:
            return WebDriverWait(self.driver, timeout).until(condition)
        except TimeoutException:
            self.fail(f"timed out after {timeout} s: {describe()}")

    def screenshot(self, name):
        self.driver.save_screenshot(os.path.join(SCREENSHOTS, name + ".png"))

    def text(self, element_id):
        return self.driver.find_element(By.ID, element_id).text

    def open_tab(self, tab):
        self.driver.find_element(By.CSS_SELECTOR, f'.tab[data-tab="{tab}"]').click()

    # Part 1 ------------------------------------------------------------------------------------

    def test_editing_w1_changes_e_tot_as_backprop_sheet_computes_it(self):
        field = self.driver.find_element(By.ID, "in-w1")
        field.clear()
        field.send_keys("0.9")
        expected = sheet_rows([0.9] + COURSE_WEIGHTS[1:], iterations=1)[0]["E_tot"]
        self.wait_for(lambda d: abs(float(self.text("e-tot")) - expected) <= 1e-8 * expected,
                      describe=lambda: f"E_tot {self.text('e-tot')}, expected {expected}")
        self.assertIn("w1 = 0.9", self.driver.find_element(By.ID, "edge-w1").text)
        self.screenshot("part1-edit-w1")

    def test_stepping_forward_twice_and_back_once_shows_iteration_1(self):
        rows = sheet_rows(COURSE_WEIGHTS, lr=0.5, iterations=3)
        for button in ["step-forward", "step-forward", "step-back"]:
            self.driver.find_element(By.ID, button).click()
        self.wait_for(lambda d: self.text("iteration") == "1")
        self.wait_for(lambda d: abs(float(self.text("e-tot")) - rows[1]["E_tot"]) <= 1e-8 * rows[1]["E_tot"])
        # The gradient of w5, three ways, at this iteration.
        self.driver.find_element(By.CSS_SELECTOR, "#edge-w5 text").click()
        self.wait_for(lambda d: "at iteration 1" in self.text("gradient-title"),
                      describe=lambda: self.text("gradient"))
        self.assertAlmostEqual(float(self.text("gradient-value").lstrip("= ")), rows[1]["∂E/∂w5"], delta=1e-9)
        self.assertEqual(self.text("gradient-formula"), "= (a_o1 − t1)·a_o1·(1 − a_o1)·a_h1")
        self.screenshot("part1-gradient")

    def test_a_slip_in_an_uploaded_workbook_is_marked_by_its_cell(self):
        with tempfile.TemporaryDirectory() as out:
            subprocess.run([BACKPROP, "sheet", "--out", out, "--iterations", "10", "--lr", "0.5"],
                           check=True, capture_output=True)
            slipped = os.path.join(out, "slipped.xlsx")
            # ∂E/∂w1 of iteration 1 (cell X5) multiplied by i2 instead of i1: a classic slip.
            with zipfile.ZipFile(os.path.join(out, "backprop.xlsx")) as source, \
                    zipfile.ZipFile(slipped, "w", zipfile.ZIP_DEFLATED) as target:
                for item in source.infolist():
                    data = source.read(item.filename)
                    if item.filename == "xl/worksheets/sheet1.xml":
                        text, count = re.subn(r'(<c r="X5"[^>]*><f>[^<]*)\*C5</f>', r"\1*D5</f>", data.decode())
                        self.assertEqual(count, 1)
                        data = text.encode()
                    target.writestr(item, data)
            self.driver.find_element(By.ID, "check-file").send_keys(slipped)
            self.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, "#check-findings li"), timeout=30)
        first = self.driver.find_element(By.CSS_SELECTOR, "#check-findings li")
        self.assertEqual(first.get_attribute("data-cell"), "X5", first.text)
        self.assertIn("verdict-wrong", self.driver.find_element(By.ID, "check-verdict").get_attribute("class"))
        self.wait_for(lambda d: d.execute_script("return document.getElementById('check-picture').naturalWidth") > 0)
        self.driver.execute_script("document.getElementById('check-result').scrollIntoView()")
        self.screenshot("part1-check")

    # Part 2 ------------------------------------------------------------------------------------

    def draw(self, strokes):
        """Draws polylines on the pad (coordinates 0…280) with pointer events, as a mouse would."""
        pad = self.driver.find_element(By.ID, "pad")
        for stroke in strokes:
            chain = ActionChains(self.driver, duration=10)
            x, y = stroke[0]
            chain.move_to_element_with_offset(pad, x - 140, y - 140).click_and_hold()
            for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
                for k in range(1, 9):
                    chain.move_to_element_with_offset(pad, x0 + (x1 - x0) * k / 8 - 140, y0 + (y1 - y0) * k / 8 - 140)
            chain.release().perform()

    def read_digit(self, strokes, expected, name):
        self.driver.find_element(By.ID, "clear").click()
        self.draw(strokes)
        self.wait_for(lambda d: self.text("top-digit") == expected, timeout=20,
                      describe=lambda: f"read {self.text('top-digit')!r}, expected {expected}")
        self.screenshot(name)

    def test_drawn_one_and_seven_are_read(self):
        self.open_tab("part2")
        self.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, "#checkpoint option"))
        self.read_digit([[(140, 45), (138, 235)]], "1", "part2-one")
        self.read_digit([[(75, 60), (205, 60), (120, 235)]], "7", "part2-seven")

    # Part 3 ------------------------------------------------------------------------------------

    def test_a_training_run_started_here_gains_a_point_per_epoch(self):
        self.open_tab("part3")
        self.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, '#train-model option[value="s6"]'))
        # Batches of 32: 63 steps, enough for one epoch on 2,000 images to learn something.
        for field, value in [("train-epochs", "1"), ("train-batch", "32"), ("train-limit", "2000"), ("train-test-limit", "1000")]:
            element = self.driver.find_element(By.ID, field)
            element.clear()
            element.send_keys(value)
        self.driver.find_element(By.ID, "train-start").click()
        self.wait_for(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#live-curve circle.epoch-point")) == 1,
                      timeout=180, describe=lambda: self.text("train-error") or self.text("live-status"))
        self.wait_for(lambda d: self.text("live-status").startswith("finished"), timeout=60)
        self.assertIn("Test set: Average loss", self.text("live-lines"))
        self.wait_for(lambda d: d.execute_script("return document.getElementById('live-misclassified').naturalWidth") > 0,
                      describe=lambda: "the misclassified digits did not load")
        self.screenshot("part3-training")


if __name__ == "__main__":
    unittest.main(verbosity=2)
