"""Groups a day's orders into per-customer sessions (orders less than 30 minutes apart).

Run by the spark_sessionize example DAG through spark-submit.
"""
import argparse

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--date", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    spark = SparkSession.builder.appName(f"sessionize-{args.date}").getOrCreate()
    orders = spark.read.csv(args.input, header=True, inferSchema=True)
    by_customer = Window.partitionBy("customer_id").orderBy("order_date")
    ts = F.to_timestamp("order_date")
    gap = ts.cast("long") - F.lag(ts.cast("long")).over(by_customer)
    sessions = (
        orders.withColumn("new_session", F.when(gap.isNull() | (gap > 1800), 1).otherwise(0))
        .withColumn("session", F.sum("new_session").over(by_customer))
        .groupBy("customer_id", "session")
        .agg(F.count("*").alias("orders"), F.sum("amount").alias("amount"))
    )
    sessions.write.mode("overwrite").parquet(args.output)
    spark.stop()


if __name__ == "__main__":
    main()
